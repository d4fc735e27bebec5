// A run's task workflow settings, loaded once when the run is planned and stored with it
// (ledger.runs.options.workflows): the templates of --templates-dir, the runner settings of
// --dagger-config, and --no-cache. Every worker renders and runs a task's workflow from this copy.
import { resolve } from 'node:path';
import { ConfigError } from '../config/errors.js';
import type { WorkflowRunOptions } from '../ledger/runs.js';
import { DEFAULT_DAGGER_CONFIG_FILE, isImageAllowed, loadDaggerConfig } from '../workflows/dagger-config.js';
import { DEFAULT_TEMPLATES_DIR, loadTemplates, templateSetToJson } from '../workflows/templates.js';

export interface WorkflowFlags {
  templatesDir?: string;
  daggerConfig?: string;
  noCache: boolean;
}

export function loadWorkflowRunOptions(flags: WorkflowFlags): WorkflowRunOptions {
  const configFile = flags.daggerConfig ? resolve(flags.daggerConfig) : DEFAULT_DAGGER_CONFIG_FILE;
  const config = loadDaggerConfig(configFile);
  const templates = loadTemplates(flags.templatesDir ? resolve(flags.templatesDir) : DEFAULT_TEMPLATES_DIR, { defaultTimeoutSeconds: config.defaultTimeoutSeconds });
  // Refused before anything is planned: a workflow must not reach a worker with an image the operator did not allow.
  for (const template of templates.templates.values()) {
    for (const step of template.steps) {
      if (!isImageAllowed(config, step.image)) {
        throw new ConfigError(`Workflow template ${template.name} (${templates.dir}), step "${step.name}": image ${step.image} is not in allowedImages of ${configFile}`);
      }
    }
  }
  return { templates: templateSetToJson(templates), config: { ...config, allowedImages: [...config.allowedImages] }, noCache: flags.noCache };
}
