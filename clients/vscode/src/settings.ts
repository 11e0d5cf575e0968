/**
 * Turning the extension's settings into the `chorus` configuration section the server understands.
 *
 * The server validates that section strictly (the same keys as chorus.toml: `models`, `panels`, `policy`),
 * so editor-only settings such as `serverCommand` never reach it, and empty tables are left out so they
 * do not hide what the workspace's chorus.toml says.
 *
 * No `vscode` import: the unit tests run this module under plain Node.
 */

/** The part of a `chorus.toml` that editor settings may overlay. */
export interface ChorusSection {
  models?: Record<string, Record<string, unknown>>;
  panels?: Record<string, unknown>;
  policy?: Record<string, unknown>;
}

/** The keys the server reads; every other `chorus.*` setting belongs to the extension. */
export const SERVER_SETTING_KEYS = ['models', 'panels', 'policy'] as const;

/** The `initializationOptions` key by which the extension tells the server whether VS Code trusts the workspace. */
export const WORKSPACE_TRUSTED_OPTION = 'workspaceTrusted';

/**
 * Settings VS Code ignores in a workspace's own settings while the workspace is untrusted (Restricted Mode):
 * they choose the program to run, where requests go, which key variable they carry, and commands to run.
 */
export const RESTRICTED_SETTING_KEYS = ['chorus.serverCommand', 'chorus.interpreter', 'chorus.models', 'chorus.policy'] as const;

/**
 * `initializationOptions` for `chorus serve`: the settings section plus VS Code's word on workspace trust.
 * The server ignores an untrusted workspace's chorus.toml `api_base`, `api_key_env` and commands; a trusted
 * workspace's apply. `chorus trust` is not needed in VS Code: granting trust restarts the server.
 */
export function initializationOptions(section: ChorusSection, workspaceTrusted: boolean): Record<string, unknown> {
  return { ...section, [WORKSPACE_TRUSTED_OPTION]: workspaceTrusted };
}

/** Settings whose change means the server must be started again (a different program). */
export const RESTART_SETTING_KEYS = ['chorus.serverCommand', 'chorus.interpreter'] as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Drop null/undefined values and empty tables, recursively; keep arrays and scalars as they are. */
export function pruneEmpty(value: Record<string, unknown>): Record<string, unknown> {
  const pruned: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === null || item === undefined) {
      continue;
    }
    if (isPlainObject(item)) {
      const inner = pruneEmpty(item);
      if (Object.keys(inner).length > 0) {
        pruned[key] = inner;
      }
      continue;
    }
    pruned[key] = item;
  }
  return pruned;
}

/**
 * Build the section from whatever `workspace.getConfiguration('chorus').get(key)` returned for each key.
 * Values that are not tables are ignored (VS Code's schema already warns the user about them).
 */
export function buildChorusSection(read: (key: (typeof SERVER_SETTING_KEYS)[number]) => unknown): ChorusSection {
  const section: Record<string, unknown> = {};
  for (const key of SERVER_SETTING_KEYS) {
    const value = read(key);
    if (isPlainObject(value)) {
      const pruned = pruneEmpty(value);
      if (Object.keys(pruned).length > 0) {
        section[key] = pruned;
      }
    }
  }
  return section as ChorusSection;
}

/**
 * Answer one `workspace/configuration` item: `chorus` gets the whole section, `chorus.policy` (etc.) its
 * table, anything else `undefined` so the default handler answers it.
 */
export function answerConfigurationItem(section: ChorusSection, requested: string | undefined): unknown {
  if (requested === undefined || requested === '' || requested === 'chorus') {
    return section;
  }
  if (!requested.startsWith('chorus.')) {
    return undefined;
  }
  let current: unknown = section;
  for (const part of requested.slice('chorus.'.length).split('.')) {
    if (!isPlainObject(current)) {
      return null;
    }
    current = current[part];
  }
  return current ?? null;
}

/** Whether a configuration change (tested with `affects`) needs a restart, a resend, or nothing. */
export function classifyConfigurationChange(affects: (section: string) => boolean): 'restart' | 'resend' | 'none' {
  if (RESTART_SETTING_KEYS.some((key) => affects(key))) {
    return 'restart';
  }
  if (SERVER_SETTING_KEYS.some((key) => affects(`chorus.${key}`))) {
    return 'resend';
  }
  return 'none';
}
