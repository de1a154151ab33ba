// Runs before every test file: a macrotask turn after each test, so vitest's worker hears the answers
// to its progress messages. Tests that set up topologies synchronously can otherwise keep the worker's
// event loop busy past vitest's 60 s RPC timeout under software emulation (the kernel matrix's guests).
import { afterEach } from 'vitest';

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
