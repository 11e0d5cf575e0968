/**
 * How to start `chorus serve`: the order of the candidates and the checks made before starting one.
 *
 * Order: the `chorus.serverCommand` setting, then `chorus.interpreter`, then the Python extension's
 * interpreter (when that extension is installed and its interpreter has chorus-lsp), then `chorus` on PATH.
 * Explicit settings are used as they are, so a mistake in them is reported instead of silently skipped.
 *
 * No `vscode` import: the unit tests run this module under plain Node.
 */

import { spawn } from 'node:child_process';
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as path from 'node:path';

export type LaunchSource = 'serverCommand' | 'interpreter' | 'pythonExtension' | 'path';

/** One way of starting the server. `probe` says how to check it before starting. */
export interface LaunchCandidate {
  source: LaunchSource;
  command: string;
  args: string[];
  probe: 'python' | 'executable';
}

export interface LaunchInputs {
  serverCommand: readonly string[];
  interpreter: string;
  pythonExtensionInterpreter?: string;
}

/** The setting a user should open to fix a launch problem. */
export type LaunchSetting = 'chorus.serverCommand' | 'chorus.interpreter';

export interface LaunchProblem {
  message: string;
  setting: LaunchSetting;
}

export type ProbeOutcome =
  | { ok: true }
  | { ok: false; reason: 'missing' | 'not-executable' | 'package-missing' | 'too-old' | 'broken'; detail: string };

export type LaunchResolution =
  | { ok: true; candidate: LaunchCandidate }
  | { ok: false; problem: LaunchProblem; tried: LaunchCandidate[] };

/**
 * Python run by the probe: exit 0 when chorus-lsp (or its `server` package) is importable, 3 when it is not,
 * 4 when Python is older than 3.11. The current directory is dropped from `sys.path` first, as the server is
 * started with `-P`: a workspace's own `server/` folder must not pass for Chorus.
 */
export const PYTHON_PROBE = [
  'import sys',
  "sys.path[:] = [p for p in sys.path if p not in ('', '.')]",
  'if sys.version_info < (3, 11): sys.exit(4)',
  'import importlib.metadata as m, importlib.util as u',
  'try:',
  "    m.version('chorus-lsp'); sys.exit(0)",
  'except m.PackageNotFoundError:',
  "    sys.exit(0 if u.find_spec('server') and u.find_spec('orchestration') else 3)",
].join('\n');

export const INSTALL_HINT = 'pip install chorus-lsp';

/** The candidates to try, in order. */
export function planLaunch(inputs: LaunchInputs): LaunchCandidate[] {
  const serverCommand = inputs.serverCommand.map((part) => part.trim()).filter((part) => part.length > 0);
  if (serverCommand.length > 0) {
    return [{ source: 'serverCommand', command: serverCommand[0], args: serverCommand.slice(1), probe: 'executable' }];
  }
  const interpreter = inputs.interpreter.trim();
  if (interpreter.length > 0) {
    return [pythonCandidate('interpreter', interpreter)];
  }
  const candidates: LaunchCandidate[] = [];
  if (inputs.pythonExtensionInterpreter) {
    candidates.push(pythonCandidate('pythonExtension', inputs.pythonExtensionInterpreter));
  }
  candidates.push({ source: 'path', command: 'chorus', args: ['serve'], probe: 'executable' });
  return candidates;
}

/** `-P` keeps the workspace folder (the server's cwd) off `sys.path`, so a project's `server/` cannot shadow Chorus. */
function pythonCandidate(source: LaunchSource, interpreter: string): LaunchCandidate {
  return { source, command: interpreter, args: ['-P', '-m', 'server', 'serve'], probe: 'python' };
}

/** Expand `~` and `${workspaceFolder}` in a configured path. */
export function expandPath(value: string, workspaceFolder: string | undefined, home: string): string {
  let expanded = value.trim();
  if (expanded === '~' || expanded.startsWith('~/')) {
    expanded = path.join(home, expanded.slice(1));
  }
  if (workspaceFolder) {
    expanded = expanded.split('${workspaceFolder}').join(workspaceFolder);
  }
  return expanded;
}

/** The first executable named `name` on `pathVariable`, or undefined. */
export async function findOnPath(name: string, pathVariable: string | undefined): Promise<string | undefined> {
  if (name.includes('/') || name.includes(path.sep)) {
    return (await isExecutable(name)) ? name : undefined;
  }
  for (const folder of (pathVariable ?? '').split(path.delimiter)) {
    if (folder.length === 0) {
      continue;
    }
    const candidate = path.join(folder, name);
    if (await isExecutable(candidate)) {
      return candidate;
    }
  }
  return undefined;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) {
      return false;
    }
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Check a candidate without starting the server. */
export async function probeCandidate(
  candidate: LaunchCandidate,
  env: NodeJS.ProcessEnv,
  timeoutMs = 15000,
  cwd?: string,
): Promise<ProbeOutcome> {
  const resolved = await findOnPath(candidate.command, env.PATH);
  if (resolved === undefined) {
    const exists = await fs.stat(candidate.command).then(
      () => true,
      () => false,
    );
    return exists
      ? { ok: false, reason: 'not-executable', detail: `${candidate.command} is not executable` }
      : { ok: false, reason: 'missing', detail: `${candidate.command} was not found` };
  }
  if (candidate.probe === 'executable') {
    return { ok: true };
  }
  return runPythonProbe(resolved, env, timeoutMs, cwd);
}

function runPythonProbe(interpreter: string, env: NodeJS.ProcessEnv, timeoutMs: number, cwd?: string): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let stderr = '';
    const child = spawn(interpreter, ['-c', PYTHON_PROBE], { env, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    const timer = setTimeout(() => child.kill(), timeoutMs);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, reason: 'broken', detail: error.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) {
        resolve({ ok: true });
      } else if (code === 3) {
        resolve({ ok: false, reason: 'package-missing', detail: `chorus-lsp is not installed in ${interpreter}` });
      } else if (code === 4) {
        resolve({ ok: false, reason: 'too-old', detail: `${interpreter} is older than Python 3.11` });
      } else {
        resolve({ ok: false, reason: 'broken', detail: stderr.trim().split('\n').slice(-3).join('\n') });
      }
    });
  });
}

/** The one message shown when nothing can be started, and the setting that fixes it. */
export function describeLaunchProblem(
  failures: { candidate: LaunchCandidate; outcome: Exclude<ProbeOutcome, { ok: true }> }[],
): LaunchProblem {
  const first = failures[0];
  if (first?.candidate.source === 'serverCommand') {
    return {
      message:
        `Chorus cannot start: the command in the "chorus.serverCommand" setting (${first.candidate.command}) ` +
        `${first.outcome.reason === 'missing' ? 'was not found' : 'cannot be run'}. Fix the setting, or clear it ` +
        `to use a Python interpreter with chorus-lsp installed.`,
      setting: 'chorus.serverCommand',
    };
  }
  if (first?.candidate.source === 'interpreter') {
    return { message: interpreterMessage(first.candidate.command, first.outcome, 'the "chorus.interpreter" setting'), setting: 'chorus.interpreter' };
  }
  const python = failures.find((failure) => failure.candidate.source === 'pythonExtension');
  if (python && python.outcome.reason === 'package-missing') {
    return {
      message:
        `Chorus cannot start: chorus-lsp is not installed in the selected Python interpreter ` +
        `(${python.candidate.command}) and "chorus" is not on PATH. Run "${python.candidate.command} -m ${INSTALL_HINT}", ` +
        `or set "chorus.interpreter" to a Python that has it.`,
      setting: 'chorus.interpreter',
    };
  }
  return {
    message:
      'Chorus cannot start: the "chorus" command was not found on PATH. Install it with ' +
      `"${INSTALL_HINT}" (or "pipx install chorus-lsp"), or set "chorus.interpreter" to a Python that has it.`,
    setting: 'chorus.interpreter',
  };
}

function interpreterMessage(interpreter: string, outcome: Exclude<ProbeOutcome, { ok: true }>, where: string): string {
  switch (outcome.reason) {
    case 'missing':
      return `Chorus cannot start: the Python interpreter in ${where} (${interpreter}) does not exist.`;
    case 'not-executable':
      return `Chorus cannot start: the Python interpreter in ${where} (${interpreter}) is not executable.`;
    case 'too-old':
      return `Chorus cannot start: ${interpreter} (in ${where}) is older than Python 3.11, which Chorus needs.`;
    case 'package-missing':
      return (
        `Chorus cannot start: chorus-lsp is not installed in ${interpreter}. ` +
        `Run "${interpreter} -m ${INSTALL_HINT}", or point ${where} at a Python that has it.`
      );
    default:
      return `Chorus cannot start: ${interpreter} failed to run (${outcome.detail || 'no output'}).`;
  }
}

/** Probe the candidates in order and return the first usable one, or the problem to report. */
export async function resolveLaunch(
  candidates: LaunchCandidate[],
  probe: (candidate: LaunchCandidate) => Promise<ProbeOutcome>,
): Promise<LaunchResolution> {
  const failures: { candidate: LaunchCandidate; outcome: Exclude<ProbeOutcome, { ok: true }> }[] = [];
  for (const candidate of candidates) {
    const outcome = await probe(candidate);
    if (outcome.ok) {
      return { ok: true, candidate };
    }
    failures.push({ candidate, outcome });
  }
  return { ok: false, problem: describeLaunchProblem(failures), tried: candidates };
}

/** A human-readable command line, for the output channel. */
export function describeCandidate(candidate: LaunchCandidate): string {
  const quoted = [candidate.command, ...candidate.args].map((part) => (/\s/.test(part) ? JSON.stringify(part) : part));
  return `${quoted.join(' ')} (from ${candidate.source})`;
}
