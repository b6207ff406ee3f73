/**
 * Where a command writes. Commands take an Output instead of touching process.stdout/stderr, so a
 * test can run them in-process and read what they printed.
 */
export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processOutput: Output = {
  stdout: (text) => {
    process.stdout.write(text);
  },
  stderr: (text) => {
    process.stderr.write(text);
  },
};

/** Exit statuses shared by every command. */
export const ExitCode = {
  Ok: 0,
  /** The command ran and found a problem (e.g. an invalid unit file). */
  Failure: 1,
  /** The command line itself was wrong (unknown command or option, missing argument). */
  Usage: 2,
} as const;
