// A YAML syntax error, said without the lines of the file around it: a config or users file holds
// passwords and secrets, and the parser's code frame would print the very line that holds one.
import type { YAMLError } from 'yaml';

/** What the parser found wrong (its first line, without the position) and the line it found it on, if known. */
export function yamlErrorParts(err: unknown): { what: string; line: number | null } {
  const yamlError = err as Partial<YAMLError> & Error;
  const what = (yamlError.message ?? String(err)).split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  return { what, line: yamlError.linePos?.[0]?.line ?? null };
}

/** `file:line is not valid YAML: what is wrong` (the line when known), never the file's text. */
export function describeYamlError(file: string, err: unknown): string {
  const { what, line } = yamlErrorParts(err);
  return `${file}${line !== null ? `:${line}` : ''} is not valid YAML: ${what}`;
}
