// A configuration or usage problem the operator can fix; the CLI prints its message without a stack trace.
export class ConfigError extends Error {
  override name = 'ConfigError';
}
