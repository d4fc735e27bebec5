// A YAML syntax error, said without the lines of the file around it: a config or users file holds
// passwords and secrets, and the parser's code frame would print the very line that holds one.
import type { YAMLError } from 'yaml';

/** `file:line is not valid YAML: what is wrong` (the line when known), never the file's text. */
export function describeYamlError(file: string, err: unknown): string {
  const yamlError = err as Partial<YAMLError> & Error;
  const what = (yamlError.message ?? String(err)).split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const at = yamlError.linePos?.[0];
  return `${file}${at ? `:${at.line}` : ''} is not valid YAML: ${what}`;
}
