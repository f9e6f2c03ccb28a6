import { basename } from "node:path";
import { InvalidInputError } from "@mlzero/errors";

/** An error about one table file; the message starts with the file's base name. */
export function tableFileError(filePath: string, problem: string, cause?: unknown): InvalidInputError {
  return new InvalidInputError(`${basename(filePath)} ${problem}`, cause === undefined ? undefined : { cause });
}
