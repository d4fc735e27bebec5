// Which rows of the new system a verification answers for. In every query $1 is the run id.
// - migrated by the run: it created them (run_id) or was the last to write them (last_run_id: a run
//   that re-migrates rows another run created adopts them, see src/store/claim-rows.ts);
// - in scope for stray rows: those, plus rows that name no run the ledger knows (nobody else answers
//   for them: a row inserted by hand, or left by a run deleted from the ledger).

export function migratedByRun(alias: string): string {
  return `(${alias}.run_id = $1 OR ${alias}.last_run_id = $1)`;
}

export function inStrayScope(alias: string): string {
  return `(${migratedByRun(alias)}
    OR NOT EXISTS (SELECT 1 FROM ledger.runs known WHERE known.id = ${alias}.run_id)
    OR NOT EXISTS (SELECT 1 FROM ledger.runs known WHERE known.id = ${alias}.last_run_id))`;
}
