// Where a command's output goes: the terminal in the CLI, the response to a client in the agent.
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** Lines for stdout and stderr, collected (the agent's answer to a client). */
export class CollectedOutput implements Output {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  out(line: string): void {
    this.stdout.push(line + '\n');
  }
  err(line: string): void {
    this.stderr.push(line + '\n');
  }
}

/** The process's own stdout and stderr. */
export const processOutput: Output = {
  out: (line) => void process.stdout.write(line + '\n'),
  err: (line) => void process.stderr.write(line + '\n'),
};
