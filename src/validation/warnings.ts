// Non-blocking findings: data that migrates, but maybe not as the operator expects. Each comes with
// file:line. Rules that would flood the report (one line per record of a whole file) are aggregated:
// after `individual` findings per file, rule and field, the rest become one finding with a count and
// the first line. The rules (see WARNING_RULES):
// - unknown_field: a field the mapping does not know; kept unchanged in legacy_extra (aggregated per field),
//   or, in task_dependencies (no legacy_extra), not migrated
// - default_applied: status/priority/type missing, the mapping's default is used (aggregated per field)
// - id_trimmed: an id with surrounding spaces; stored trimmed
// - ends_before_start: a phase whose ends_on is before its starts_on
// - updated_before_created: updated_at before created_at
// - task_without_phase: tasks with no phase_id (aggregated)
// - cross_project_dependency: a dependency between tasks of two different projects
// - empty_file: a legacy file without records
// - ignored_file: a file or directory of the legacy directory that is not a legacy file (backed up, not migrated)
// - records_share_lines: a .json file with records that start on one line (minified): they are numbered,
//   not named by the file's line, from the first such line on
// - null_marker_text: a CSV field holding \N (MySQL's NULL) that the mapping's nullText does not list: it
//   migrates as the text \N (aggregated per field)
// - list_as_text: tags given as text in another list syntax ("{a,b}", "[a, b]", "a, b"): one tag, not
//   several (aggregated); depends_on in such a syntax is rejected anyway (no such task)
// - timestamp_without_offset: a timestamp with no UTC offset, read in the mapping's zone (UTC) (aggregated per field)
// - duplicate_field: a JSON record holding one field twice: the last value is taken, the first is lost
import type { LegacyMapping } from '../config/legacy-mapping.js';
import type { LegacyKind } from '../legacy/kinds.js';
import type { SharedLines } from '../legacy/record-splitter.js';
import { EXTRA_PREFIX, givesWay, legacyFieldName, rawFieldValue, sourceNames, type KindValues } from '../legacy/normalize.js';
import { recordRef, type Finding, type FindingKind, type WarningClass } from './findings.js';

/** How many individual findings a rule gives per file and field before the rest are aggregated. */
export const WARNING_RULES: Record<WarningClass, { individual: number }> = {
  unknown_field: { individual: 0 },
  default_applied: { individual: 0 },
  task_without_phase: { individual: 0 },
  id_trimmed: { individual: 100 },
  ends_before_start: { individual: 100 },
  updated_before_created: { individual: 100 },
  cross_project_dependency: { individual: 100 },
  empty_file: { individual: 1 },
  ignored_file: { individual: 1000 },
  records_share_lines: { individual: 1 },
  null_marker_text: { individual: 0 },
  list_as_text: { individual: 0 },
  timestamp_without_offset: { individual: 0 },
  duplicate_field: { individual: 100 },
};

/** Text that reads as a list in another syntax than ';' (a Postgres array, a JSON array, commas). */
const OTHER_LIST_SYNTAX = /^\s*(\{.*,.*\}|\[.*,.*\])\s*$|^[^;]*,[^;]*$/s;
/** A timestamp whose time states its offset (a date alone has none: it is midnight in the mapping's zone). */
const WITH_OFFSET = /[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$/;

/** The texts of one warning: its own reason, and what an aggregated finding says of all like it. */
export interface WarningText {
  reason: string;
  /** E.g. `tasks have no phase_id`. */
  summary: string;
}

interface FirstOccurrence {
  line: number;
  ref: string | undefined;
  legacyId: string | null;
  text: WarningText;
}

/**
 * One rule in one file for one field: counts its occurrences, emits the first `individual` ones and
 * aggregates the rest. Texts are built only for what is emitted (this runs for every record).
 */
export class WarningCounter {
  count = 0;
  private rest = 0;
  private firstOfRest: FirstOccurrence | null = null;
  private readonly individual: number;

  constructor(
    private readonly emit: (finding: Finding) => void,
    readonly kind: FindingKind, readonly file: string, readonly cls: WarningClass, readonly field: string | null,
  ) {
    this.individual = WARNING_RULES[cls].individual;
  }

  hit(line: number, legacyId: string | null, text: () => WarningText, ref?: string): void {
    this.count++;
    if (this.count <= this.individual) {
      this.emit({
        severity: 'warning', kind: this.kind, class: this.cls, ref: ref ?? recordRef(this.file, line), file: this.file, line,
        legacyId, field: this.field, reason: text().reason,
      });
      return;
    }
    this.rest++;
    this.firstOfRest ??= { line, ref, legacyId, text: text() };
  }

  /** Emits the aggregated finding of the occurrences past the individual ones, if any. */
  flush(): void {
    const first = this.firstOfRest;
    if (!first) return;
    const { rest } = this;
    const ref = first.ref ?? recordRef(this.file, first.line);
    const more = this.individual > 0 ? `${rest} more: ` : '';
    this.emit({
      severity: 'warning', kind: this.kind, class: this.cls, ref, file: this.file, line: first.line, legacyId: first.legacyId,
      field: this.field, count: rest, reason: `${more}${first.text.summary} (${rest} record${rest === 1 ? '' : 's'}, the first at ${ref})`,
    });
    this.firstOfRest = null;
    this.rest = 0;
  }
}

export class WarningCollector {
  private readonly counters = new Map<string, WarningCounter>();

  constructor(private readonly emit: (finding: Finding) => void) {}

  /** The counter of a rule in a file for a field (one per combination; keep it for the hot path). */
  counter(kind: FindingKind, file: string, cls: WarningClass, field: string | null): WarningCounter {
    const key = `${file}\u0000${cls}\u0000${field ?? ''}`;
    let counter = this.counters.get(key);
    if (!counter) this.counters.set(key, (counter = new WarningCounter(this.emit, kind, file, cls, field)));
    return counter;
  }

  /** Emits every aggregated finding not emitted yet. */
  finishAll(): void {
    for (const counter of this.counters.values()) counter.flush();
  }

  /** Emits the aggregated findings of one file. */
  finishFile(file: string): void {
    for (const counter of this.counters.values()) if (counter.file === file) counter.flush();
  }

  /** Occurrences (aggregated or not) in all, per kind and per class. */
  totals(): { total: number; perKind: Map<FindingKind, number>; perClass: Map<WarningClass, number> } {
    const perKind = new Map<FindingKind, number>();
    const perClass = new Map<WarningClass, number>();
    let total = 0;
    for (const c of this.counters.values()) {
      if (c.count === 0) continue;
      total += c.count;
      perKind.set(c.kind, (perKind.get(c.kind) ?? 0) + c.count);
      perClass.set(c.cls, (perClass.get(c.cls) ?? 0) + c.count);
    }
    return { total, perKind, perClass };
  }
}

type EntityKind = 'projects' | 'phases' | 'tasks';

/** A rule per field, made when the field is first met: its counter, and its text as reason and summary. */
function rulePerField(counterOf: (field: string) => WarningCounter, textOf: (field: string) => string): (field: string) => { counter: WarningCounter; text: () => WarningText } {
  const rules = new Map<string, { counter: WarningCounter; text: () => WarningText }>();
  return (field) => {
    let rule = rules.get(field);
    if (!rule) {
      const text = textOf(field);
      rules.set(field, (rule = { counter: counterOf(field), text: () => ({ reason: text, summary: text }) }));
    }
    return rule;
  };
}

/**
 * The warning of task_dependencies rows: a field other than the edge's two ids is not migrated (an edge
 * row has no legacy_extra), so a column such as a link type or a date would otherwise vanish unsaid.
 */
export function createDependencyRowWarnings(file: string, mapping: LegacyMapping, warnings: WarningCollector): (line: number, raw: Record<string, unknown>) => void {
  const taskSources = sourceNames(mapping, 'task_dependencies', 'task_id');
  const dependsOnSources = sourceNames(mapping, 'task_dependencies', 'depends_on_id');
  const edgeFields = new Set([...taskSources, ...dependsOnSources]);
  const dropped = rulePerField((field) => warnings.counter('task_dependencies', file, 'unknown_field', field),
    (field) => `field "${field}" is not migrated: a dependency edge keeps only its two task ids (it has no legacy_extra)`);
  return (line, raw) => {
    for (const field in raw) {
      if (edgeFields.has(field) || givesWay(raw[field])) continue;
      const rule = dropped(field);
      rule.counter.hit(line, `${String(rawFieldValue(raw, taskSources))}->${String(rawFieldValue(raw, dependsOnSources))}`, rule.text);
    }
  };
}

export type RecordWarnings<K extends EntityKind> = (line: number, raw: Record<string, unknown>, values: KindValues[K], duplicateKeys?: readonly string[]) => void;

/**
 * The warning rules of one file's records that will migrate, given their raw fields (legacy names) and
 * normalized values. Names and counters are resolved once here: this runs for every record.
 */
export function createRecordWarnings<K extends EntityKind>(kind: K, file: string, mapping: LegacyMapping, warnings: WarningCollector): RecordWarnings<K> {
  const name = (field: string) => legacyFieldName(mapping, kind, field);
  const counter = (cls: WarningClass, field: string) => warnings.counter(kind, file, cls, field);
  const defaults = Object.entries<string>(mapping.defaults[kind] ?? {}).map(([field, value]) => {
    const legacyName = name(field);
    const text = `${legacyName} is missing; the mapping's default "${value}" is used`;
    return { sources: sourceNames(mapping, kind, field), counter: counter('default_applied', legacyName), text: () => ({ reason: text, summary: text }) };
  });
  // Fields the mapping moved aside into legacy_extra are in the mapping: no "unknown field" for them.
  const movedAside = new Set(Object.values<string>(mapping.fields[kind] ?? {}).filter((t) => t.startsWith(EXTRA_PREFIX)).map((t) => t.slice(EXTRA_PREFIX.length)));
  const unknownField = rulePerField((field) => counter('unknown_field', field), (field) => `field "${field}" is not in the mapping; it is kept unchanged in legacy_extra`);
  const [idName, createdName, updatedName, startsName, endsName, phaseName] =
    ['id', 'created_at', 'updated_at', 'starts_on', 'ends_on', 'phase_id'].map(name) as [string, string, string, string, string, string];
  const idSources = sourceNames(mapping, kind, 'id');
  const idTrimmed = counter('id_trimmed', idName);
  const updatedBeforeCreated = counter('updated_before_created', updatedName);
  const endsBeforeStart = counter('ends_before_start', endsName);
  const withoutPhase = counter('task_without_phase', phaseName);
  const withoutPhaseText = { reason: `task has no ${phaseName}`, summary: `tasks have no ${phaseName} (they belong to their project only)` };
  const nullMarker = file.endsWith('.csv') && !(mapping.nullText ?? []).includes('\\N') ? new Map<string, WarningCounter>() : null;
  const nullMarkerText = (field: string) => {
    const text = `${field} holds \\N (MySQL's NULL) and is migrated as that text; list it in the mapping (nullText: ['\\N']) to read it as no value`;
    return () => ({ reason: text, summary: text });
  };
  const tagsName = name('tags');
  const listAsText = kind === 'tasks' ? { sources: sourceNames(mapping, kind, 'tags'), counter: counter('list_as_text', tagsName) } : null;
  const offsetRules = (['created_at', 'updated_at'] as const).map((field) => {
    const legacyName = name(field);
    const text = `${legacyName} has no UTC offset (or is a date alone, midnight); it is read as UTC (the mapping's timezone)`;
    return { sources: sourceNames(mapping, kind, field), counter: counter('timestamp_without_offset', legacyName), text: () => ({ reason: text, summary: text }) };
  });

  return (line, raw, values, duplicateKeys) => {
    const legacyId = values.legacyId;
    for (const field of duplicateKeys ?? []) {
      counter('duplicate_field', field).hit(line, legacyId, () => ({
        reason: `${field} appears twice in the record: the last value is migrated and the first is lost (JSON readers keep the last)`,
        summary: `${field} appears twice in a record: the last value is migrated`,
      }));
    }
    if (values.extra) {
      for (const field in values.extra) {
        if (movedAside.has(field)) continue;
        const rule = unknownField(field);
        rule.counter.hit(line, legacyId, rule.text);
      }
    }
    for (const rule of defaults) {
      const given = rawFieldValue(raw, rule.sources);
      if (given === undefined || given === null || given === '') rule.counter.hit(line, legacyId, rule.text);
    }
    const rawId = rawFieldValue(raw, idSources);
    if (typeof rawId === 'string' && rawId !== legacyId) {
      idTrimmed.hit(line, legacyId, () => ({
        reason: `${idName} ${JSON.stringify(rawId)} has surrounding spaces; it is stored as "${legacyId}"`,
        summary: `${idName} has surrounding spaces; it is stored trimmed`,
      }));
    }
    const { createdAt, updatedAt } = values;
    if (createdAt !== null && updatedAt !== null && updatedAt < createdAt) {
      updatedBeforeCreated.hit(line, legacyId, () => ({
        reason: `${updatedName} ${updatedAt} is before ${createdName} ${createdAt}`, summary: `${updatedName} is before ${createdName}`,
      }));
    }
    if (kind === 'phases') {
      const { startsOn, endsOn } = values as KindValues['phases'];
      if (startsOn !== null && endsOn !== null && endsOn < startsOn) {
        endsBeforeStart.hit(line, legacyId, () => ({ reason: `${endsName} ${endsOn} is before ${startsName} ${startsOn}`, summary: `${endsName} is before ${startsName}` }));
      }
    }
    if (kind === 'tasks' && (values as KindValues['tasks']).phaseLegacyId === null) withoutPhase.hit(line, legacyId, () => withoutPhaseText);
    if (nullMarker) {
      for (const field in raw) {
        if (raw[field] !== '\\N') continue;
        let rule = nullMarker.get(field);
        if (!rule) nullMarker.set(field, (rule = counter('null_marker_text', field)));
        rule.hit(line, legacyId, nullMarkerText(field));
      }
    }
    if (listAsText) {
      const tags = rawFieldValue(raw, listAsText.sources);
      if (typeof tags === 'string' && OTHER_LIST_SYNTAX.test(tags)) {
        listAsText.counter.hit(line, legacyId, () => ({
          reason: `${tagsName} ${JSON.stringify(tags.length > 60 ? `${tags.slice(0, 57)}...` : tags)} reads as a list in another syntax, but tags are separated by ';': it becomes ${(values as KindValues['tasks']).tags?.length ?? 0} tag(s)`,
          summary: `${tagsName} given as text in another list syntax ("{a,b}", "[a, b]" or "a, b"): tags are separated by ';', so each becomes one tag`,
        }));
      }
    }
    for (const rule of offsetRules) {
      const given = rawFieldValue(raw, rule.sources);
      if (typeof given === 'string' && given.trim() !== '' && !WITH_OFFSET.test(given.trim())) rule.counter.hit(line, legacyId, rule.text);
    }
  };
}

/** A legacy file without a single record. */
export function emptyFileWarning(kind: LegacyKind, file: string, warnings: WarningCollector): void {
  warnings.counter(kind, file, 'empty_file', null).hit(0, null, () => ({
    reason: `${file} holds no records: nothing of kind ${kind} will be migrated`, summary: `${file} holds no records`,
  }), file);
}

/** A .json file whose records share lines (a minified array): from the first such line on, records are numbered. */
export function sharedLinesWarning(kind: LegacyKind, file: string, shared: SharedLines, warnings: WarningCollector): void {
  const { records, firstLine, firstNumber } = shared;
  warnings.counter(kind, file, 'records_share_lines', null).hit(firstNumber, null, () => ({
    reason: `${records} record${records === 1 ? '' : 's'} of ${file} start${records === 1 ? 's' : ''} on a line where an earlier record starts, the first on line ${firstLine} `
      + `(a minified array, or lines ended by CR alone): from there on, records are numbered as though each began a line of its own, so ${file}:N `
      + `(in rejects and reports) is the record numbered N, not the file's line N; in an array all on line 1, it is the N-th element`,
    summary: `records of ${file} share lines`,
  }));
}

/** A file or directory of the legacy directory that is not read as legacy data. */
export function ignoredFileWarning(name: string, isDirectory: boolean, warnings: WarningCollector): void {
  const what = isDirectory ? 'directory' : 'file';
  warnings.counter('other', name, 'ignored_file', null).hit(0, null, () => ({
    reason: `${what} ${name} is not a legacy file (projects, phases, tasks, task_dependencies as .json, .jsonl or .csv): it is backed up but not migrated`,
    summary: `${what} ${name} is not a legacy file`,
  }), name);
}
