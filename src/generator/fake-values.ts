// Realistic field values: multilingual text, people, tags, ISO timestamps and dates.
//
// Text deliberately carries what breaks naive importers: accents, CJK, RTL, emoji (including ZWJ
// sequences), quotes, commas, backslashes, tabs and embedded newlines. It never carries `\r`, U+2028
// or U+2029, so every reader agrees on line numbers, nor `;`, which separates CSV list items.

import type { Random } from './random.js';

const TITLE_VERBS = [
  'Migrate', 'Fix', 'Implement', 'Review', 'Update', 'Refactor', 'Document', 'Test', 'Deploy',
  'Investigate', 'Design', 'Clean up', 'Automate', 'Translate', 'Benchmark', 'Archive',
];
const TITLE_OBJECTS = [
  'login page', 'billing export', 'search index', 'API rate limits', 'onboarding e-mail', 'CSV import',
  'Kanban board', 'audit log', 'dark mode', 'invoice PDF', 'SSO with Okta', 'mobile push notifications',
  'nightly backup', 'GDPR data export', 'webhook retries', 'release notes', 'café menu sync',
  'naïve date parsing', 'Zürich office VPN',
];
const FOREIGN_TITLES = [
  'Révision du contrat de maintenance', 'Überprüfung der Rechnungsläufe', 'Configuración del servidor de correo',
  'データ移行の確認', '用户权限设计', 'Проверка квартальных отчётов', 'Ανασκόπηση σχεδίου',
  'Tłumaczenie interfejsu', 'Çeviri dosyalarını güncelle', 'Đánh giá hiệu năng', 'مراجعة التصميم',
  '회의록 정리', 'Ação de marketing — São Paulo',
];
const QUIRKY_TITLES = [
  'Fix "Save" button, again', 'Rename "Client" to "Customer", everywhere', 'Import 2019, 2020 and 2021 data',
  'Why does "Export" say "Done" when it isn\'t?', 'Pricing: tiers A, B, C', 'Support 100% zoom, 125%, 150%',
];
const EMOJI = ['🚀', '🐛', '✅', '🔥', '📦', '👩‍💻', '⚠️', '🇫🇷', '🎉', '🧪', '👍🏽'];
const SENTENCES = [
  'Customer reported that the export stops at 10,000 rows.',
  'See the "Q3 roadmap" document, section 4.',
  'Steps to reproduce: open the board, drag a card, refresh.',
  'Le client signale une erreur lors de l’import des données.',
  'Die Synchronisierung schlägt nach dem Update fehl.',
  'ログイン後に画面が真っ白になります。',
  '导出的文件编码不正确，需要检查。',
  'Works on staging, fails in production 🤷.',
  'Old path on the file server: C:\\Legacy\\exports\\2019\\',
  'He said "it\'s urgent", but the priority is still low.',
  'Blocked until the vendor ships v2.3.1.',
  'Estimate assumes 2 developers, 1 tester and no surprises.',
  'Revisar la configuración con el equipo de José.',
  'Ticket moved from the old tracker (ID 48213).',
  'Acceptance: totals match, to the cent, in EUR, USD and JPY (¥).',
  'Note\tthe tab-separated values in the attached sample.',
  'Ça marche pas avec Safari 14 😕',
  'Kunde möchte eine Übersicht über alle Größen.',
  'Повторить импорт после исправления кодировки.',
  '마감일 전에 검토가 필요합니다.',
  'Use the {"format": "v2"} payload, not the old one.',
];
const FIRST_NAMES = [
  'Zoë', 'José', 'Ørjan', 'Siobhán', 'Renée', 'Łukasz', 'Ana-María', 'Nguyễn', 'Søren', 'Maëlle',
  'Björn', 'Chloé', 'Ahmed', 'Priya', 'Kenji', 'Olga', 'Tom',
];
const LAST_NAMES = [
  'Müller', 'Álvarez', 'Ødegård', "O'Neill", "D'Souza", 'Wąsowski', 'Núñez', 'Văn An', 'Kierkegaard',
  'Le Gall', 'Sjöberg', 'Dubois', 'El-Amin', 'Raghunathan', 'Yamada', 'Ivanova', 'Smith',
];
const CJK_NAMES = ['李雷', '韩梅梅', '山田 太郎', '김민수', '王芳'];
const TAGS = [
  'backend', 'frontend', 'ux', 'billing', 'urgent', 'tech-debt', 'customer', 'security', 'i18n',
  'q3-2021', '客户', 'données', 'größe', '🔥hot', 'needs triage', 'v2.3',
];
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', 'teal', 'rebeccapurple'];

export function taskTitle(r: Random): string {
  const roll = r.next();
  if (roll < 0.6) return `${r.pick(TITLE_VERBS)} ${r.pick(TITLE_OBJECTS)}`;
  if (roll < 0.75) return r.pick(FOREIGN_TITLES);
  if (roll < 0.85) return `${r.pick(EMOJI)} ${r.pick(TITLE_VERBS)} ${r.pick(TITLE_OBJECTS)}`;
  if (roll < 0.95) return r.pick(QUIRKY_TITLES);
  return `${r.pick(TITLE_VERBS)} ${r.pick(TITLE_OBJECTS)}: follow-up to ${r.pick(FOREIGN_TITLES)}`;
}

export function projectName(r: Random): string {
  const roll = r.next();
  if (roll < 0.5) return `${r.pick(['Project', 'Programme', 'Initiative', 'Team'])} ${r.pick(TITLE_OBJECTS)}`;
  if (roll < 0.8) return r.pick(FOREIGN_TITLES);
  return `${r.pick(EMOJI)} ${r.pick(QUIRKY_TITLES)}`;
}

export function phaseName(r: Random, position: number): string {
  const names = ['Discovery', 'Design', 'Build', 'Recette (UAT)', 'Rollout', 'Hypercare', '設計', 'Phase "Go-live", final'];
  return r.chance(0.3) ? `Phase ${position} — ${r.pick(names)}` : r.pick(names);
}

/** Null, one sentence, a few paragraphs, or (rarely) a few KB. */
export function description(r: Random): string | null {
  const roll = r.next();
  if (roll < 0.25) return null;
  if (roll < 0.7) return r.pick(SENTENCES);
  if (roll < 0.95) return paragraphs(r, r.between(2, 8));
  return longText(r, r.between(1024, 4096));
}

function paragraphs(r: Random, sentences: number): string {
  let text = r.pick(SENTENCES);
  for (let i = 1; i < sentences; i++) {
    const roll = r.next();
    const separator = roll < 0.5 ? ' ' : roll < 0.75 ? '\n' : roll < 0.9 ? '\n\n' : '\n- ';
    text += separator + r.pick(SENTENCES);
  }
  return text;
}

/** Text of at least `minLength` UTF-16 units, in paragraphs. */
export function longText(r: Random, minLength: number): string {
  let text = r.pick(SENTENCES);
  while (text.length < minLength) text += (r.chance(0.2) ? '\n\n' : ' ') + r.pick(SENTENCES);
  return text;
}

export function person(r: Random): string {
  const roll = r.next();
  if (roll < 0.6) return `${r.pick(FIRST_NAMES)} ${r.pick(LAST_NAMES)}`;
  if (roll < 0.75) return r.pick(CJK_NAMES);
  const first = r.pick(['j.doe', 'a.nunez', 'ops-bot', 'ødegård', 'kenji.y']);
  return `${first}@${r.pick(['example.com', 'example.org', 'legacy.example.net'])}`;
}

export function tags(r: Random): string[] {
  const count = r.pick([0, 0, 1, 1, 2, 3, 4]);
  const chosen: string[] = [];
  for (let i = 0; i < count; i++) {
    const tag = r.pick(TAGS);
    if (!chosen.includes(tag)) chosen.push(tag);
  }
  return chosen;
}

export function color(r: Random): string {
  return r.pick(COLORS);
}

export function customValue(r: Random): string | number {
  return r.chance(0.5) ? r.between(1, 500) : r.pick(['sprint-12', 'legacy import', 'Kostenstelle 4711', '予算A']);
}

const EPOCH_2015 = Date.UTC(2015, 0, 1);
const SIX_YEARS_MS = 6 * 365 * 24 * 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;

/** A point in time between 2015 and 2021, in milliseconds since the epoch. */
export function instant(r: Random): number {
  return EPOCH_2015 + r.int(SIX_YEARS_MS);
}

/** A later point in time, up to `maxDays` days after `from`. */
export function later(r: Random, from: number, maxDays: number): number {
  return from + r.int(maxDays * DAY_MS);
}

/** An ISO 8601 timestamp of `ms`, in one of the shapes legacy systems write. */
export function isoTimestamp(r: Random, ms: number): string {
  const roll = r.next();
  const utc = new Date(ms).toISOString(); // 2019-03-14T09:26:53.123Z
  if (roll < 0.5) return utc;
  if (roll < 0.8) return `${utc.slice(0, 19)}Z`;
  // Same instant written with a local offset.
  const offsetMinutes = r.pick([60, 120, -300, 330, 540]);
  const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 19);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** `YYYY-MM-DD` of `ms` (UTC). */
export function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
