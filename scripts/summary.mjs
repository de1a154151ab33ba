// Prints vitest's JSON report as one plain closing line: "N passed, N failed" (", N skipped").
import fs from 'node:fs';
const r = JSON.parse(fs.readFileSync(process.argv[2] ?? 'test-results.json', 'utf8'));
const skipped = r.numPendingTests + (r.numTodoTests ?? 0);
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(r.numFailedTests === 0 && r.numPassedTests > 0 ? 0 : 1);
