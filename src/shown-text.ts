// Text from legacy data (ids, field names, reasons quoting values) printed on a terminal or into a line-
// per-entry text file: a control character in it could break the line apart, or (ESC) drive the
// operator's terminal. Each one is shown escaped, as JSON writes it: NUL as "\u0000".

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

export function shownText(text: string): string {
  CONTROL.lastIndex = 0;
  return CONTROL.test(text) ? text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : text;
}
