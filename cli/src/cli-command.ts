/** Standard streams of a command, injectable for tests. */
export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
}

/**
 * One `mlzero` subcommand. `run` returns the exit code: 0 success, 1 the
 * task did not succeed, 2 bad usage or input (thrown as a DomainError or
 * RpcError, which `main` prints as one line).
 */
export interface CliCommand {
  name: string;
  /** Arguments shown in the command overview, e.g. "<task-id>". */
  synopsis: string;
  /** One line for the command overview. */
  summary: string;
  /** The command's full usage, for `mlzero <command> --help`. */
  usage: string;
  run(args: string[], io: CommandIo): Promise<number>;
}
