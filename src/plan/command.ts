// The command to run: where execve should look for it, as execvp would inside the sandbox.
import { DEFAULT_PATH } from "./env.ts";

/** Candidate paths for argv[0]: itself when it has a slash, else each PATH entry in turn. */
export function execCandidates(file: string, path: string | undefined): string[] {
  if (file.includes("/")) return [file];
  return (path ?? DEFAULT_PATH).split(":").map((dir) => (dir === "" ? file : `${dir.replace(/\/+$/, "")}/${file}`));
}
