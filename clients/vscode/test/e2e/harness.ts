/**
 * Processes and files for the end-to-end test: the fake model server, a workspace with a buggy file and a
 * chorus.toml pointing at it, code-server with the built .vsix installed, and headless Chromium.
 *
 * Inputs (environment): CODE_SERVER_BIN (a code-server executable), CHORUS_PYTHON (a Python with chorus-lsp),
 * CHROMIUM (default /usr/bin/chromium), CHORUS_REPO (default: two folders above clients/vscode), VSIX
 * (default clients/vscode/chorus.vsix), E2E_ARTIFACTS (default clients/vscode/test-artifacts).
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const EXTENSION_ROOT = path.resolve(__dirname, '..', '..', '..');
export const REPO_ROOT = process.env.CHORUS_REPO ?? path.resolve(EXTENSION_ROOT, '..', '..');
export const ARTIFACTS = process.env.E2E_ARTIFACTS ?? path.join(EXTENSION_ROOT, 'test-artifacts');
export const VSIX = process.env.VSIX ?? path.join(EXTENSION_ROOT, 'chorus.vsix');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const CHORUS_PYTHON = process.env.CHORUS_PYTHON ?? 'python3';

/** The buggy file under review: an SQL injection (lines 5-6) and an off-by-one (line 10). */
export const BUGGY_PY = [
  'import sqlite3',
  '',
  '',
  'def find_user(db: sqlite3.Connection, name: str):',
  '    query = f"SELECT * FROM users WHERE name = \'{name}\'"',
  '    return db.execute(query).fetchone()',
  '',
  '',
  'def average(values: list[float]) -> float:',
  '    return sum(values) / len(values) + 1',
  '',
].join('\n');

export const STUBS_PY = ['def add_one(x: int) -> int:', '    """Return x plus one."""', '    ...', ''].join('\n');

const SQL_FIX = '    return db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()\n';
const AVERAGE_FIX = '    return sum(values) / len(values)\n';

function review(findings: object[]): string {
  return JSON.stringify({ findings });
}

const sqlFinding = (message: string) => ({
  start_line: 5,
  end_line: 6,
  severity: 'error',
  category: 'security',
  message,
  fix: { start_line: 5, end_line: 6, replacement: SQL_FIX },
});
const averageFinding = (message: string) => ({
  start_line: 10,
  end_line: 10,
  severity: 'error',
  category: 'bug',
  message,
  fix: { start_line: 10, end_line: 10, replacement: AVERAGE_FIX },
});

/** What each fake model answers (one seat per task, since a script does not depend on the request). */
export const MODEL_SCRIPT: Record<string, object> = {
  alpha: { text: review([sqlFinding('SQL injection: the name is pasted into the query'), averageFinding('Off-by-one: the mean gets 1 added')]) },
  beta: { text: review([sqlFinding('SQL injection via f-string query; use a parameter'), averageFinding('average() adds 1 to the mean')]), latency: 0.3 },
  gamma: { text: review([averageFinding('The result is the mean plus one, which is wrong')]), latency: 0.6 },
  'impl-a': { text: JSON.stringify({ code: 'def add_one(x: int) -> int:\n    """Return x plus one."""\n    return x + 1\n' }) },
  'impl-b': { text: JSON.stringify({ code: 'def add_one(x: int) -> int:\n    """Return x plus one."""\n    return x + 1\n' }), latency: 0.2 },
  'impl-c': { text: JSON.stringify({ code: 'def add_one(x: int) -> int:\n    """Return x plus one."""\n    return sum((x, 1))\n' }), latency: 0.4 },
  explainer: {
    text: JSON.stringify({
      explanation: '## Why the average is wrong\n\n`average()` adds **1** to the arithmetic mean, so every result is off by one.',
      fix: { start_line: 10, end_line: 10, replacement: AVERAGE_FIX },
    }),
  },
};

/**
 * The slow seat lives on a fake model server of its own, so any open connection to that server is its call
 * in flight (the main server's idle keep-alive connections cannot be mistaken for it).
 */
export const SLOW_SCRIPT: Record<string, object> = { slow: { text: review([]), latency: 40 } };

export function chorusToml(port: number, slowPort: number): string {
  const seat = (name: string, seatPort: number) =>
    `[models.${JSON.stringify(name)}]\nmodel = "openai/${name}"\napi_base = "http://127.0.0.1:${seatPort}/v1"\napi_key_env = "FAKE_MODELS_KEY"\ntimeout = 60\n`;
  return [
    ...Object.keys(MODEL_SCRIPT).map((name) => seat(name, port)),
    ...Object.keys(SLOW_SCRIPT).map((name) => seat(name, slowPort)),
    '[panels]',
    'review = ["alpha", "beta", "gamma"]',
    'implement = ["impl-a", "impl-b", "impl-c"]',
    'explain = ["explainer"]',
    '',
    '[policy]',
    'deadline = 90',
    'min_agreement = 2',
    '',
  ].join('\n');
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Spawn `command` in its own process group, its output appended to `logFile`. */
export function startProcess(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; logFile: string }): ChildProcess {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

/** Stop a process group started by `startProcess` (SIGTERM, then SIGKILL). */
export async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child?.pid || child.exitCode !== null) {
    return;
  }
  const group = -child.pid;
  try {
    process.kill(group, 'SIGTERM');
  } catch {
    return;
  }
  for (let waited = 0; waited < 3000 && child.exitCode === null && child.signalCode === null; waited += 100) {
    await sleep(100);
  }
  try {
    process.kill(group, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) {
        return value;
      }
    } catch (error) {
      lastError = error;
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (${String(lastError)})` : ''}`);
}

export interface Environment {
  root: string;
  workspace: string;
  userData: string;
  extensionsDir: string;
  logs: string;
  fakeModels?: ChildProcess;
  slowModels?: ChildProcess;
  codeServer?: ChildProcess;
  modelsPort: number;
  slowPort: number;
  url: string;
}

/** Start the fake models, write the workspace and settings, install the .vsix and start code-server. */
export async function startEnvironment(): Promise<Environment> {
  const codeServerBin = process.env.CODE_SERVER_BIN;
  if (!codeServerBin) {
    throw new Error('CODE_SERVER_BIN is not set (run-tests.sh installs code-server and sets it)');
  }
  if (!existsSync(VSIX)) {
    throw new Error(`${VSIX} does not exist: run "npm run package" first`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  const root = await mkdtemp(path.join(tmpdir(), 'chorus-e2e-'));
  const environment: Environment = {
    root,
    workspace: path.join(root, 'workspace'),
    userData: path.join(root, 'user-data'),
    extensionsDir: path.join(root, 'extensions'),
    logs: ARTIFACTS,
    modelsPort: 0,
    slowPort: 0,
    url: '',
  };
  for (const folder of [environment.workspace, path.join(environment.userData, 'User'), environment.extensionsDir]) {
    mkdirSync(folder, { recursive: true });
  }

  const fakeModels = async (name: string, script: object): Promise<{ child: ChildProcess; port: number }> => {
    const scriptFile = path.join(root, `${name}.json`);
    const portFile = path.join(root, `${name}.port`);
    writeFileSync(scriptFile, JSON.stringify(script, null, 2));
    const child = startProcess(CHORUS_PYTHON, ['-m', 'tests.fake_models', '--port', '0', '--script', scriptFile, '--port-file', portFile], {
      cwd: REPO_ROOT,
      logFile: path.join(ARTIFACTS, `${name}.log`),
    });
    const port = await waitFor(`the fake model server (${name})`, async () => (existsSync(portFile) ? Number((await readFile(portFile, 'utf8')).trim()) : undefined), 30000);
    return { child, port };
  };
  const main = await fakeModels('fake-models', MODEL_SCRIPT);
  environment.fakeModels = main.child;
  environment.modelsPort = main.port;
  const slow = await fakeModels('fake-models-slow', SLOW_SCRIPT);
  environment.slowModels = slow.child;
  environment.slowPort = slow.port;

  writeFileSync(path.join(environment.workspace, 'buggy.py'), BUGGY_PY);
  writeFileSync(path.join(environment.workspace, 'stubs.py'), STUBS_PY);
  writeFileSync(path.join(environment.workspace, 'chorus.toml'), chorusToml(environment.modelsPort, environment.slowPort));
  writeUserSettings(environment, {});

  const install = spawnSync(codeServerBin, ['--user-data-dir', environment.userData, '--extensions-dir', environment.extensionsDir, '--install-extension', VSIX], {
    encoding: 'utf8',
    timeout: 120000,
  });
  writeFileSync(path.join(ARTIFACTS, 'install-extension.log'), `${install.stdout}\n${install.stderr}`);
  if (install.status !== 0 || !/successfully installed/i.test(`${install.stdout}${install.stderr}`)) {
    throw new Error(`installing ${VSIX} into code-server failed: ${install.stdout}${install.stderr}`);
  }

  const port = await freePort();
  const configFile = path.join(root, 'code-server.yaml');
  writeFileSync(configFile, 'auth: none\ncert: false\n');
  environment.codeServer = startProcess(
    codeServerBin,
    [
      '--config', configFile,
      '--bind-addr', `127.0.0.1:${port}`,
      '--auth', 'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--user-data-dir', environment.userData,
      '--extensions-dir', environment.extensionsDir,
      environment.workspace,
    ],
    {
      env: {
        ...process.env,
        FAKE_MODELS_KEY: 'sk-fake',
        PYTHONDONTWRITEBYTECODE: '1',
        /** Chorus's memory (and code-server's own data) in the test's folder, never the real user data dir. */
        XDG_DATA_HOME: path.join(root, 'data'),
        /** No extension gallery: nothing leaves the machine (a closed loopback port answers at once). */
        EXTENSIONS_GALLERY: JSON.stringify({ serviceUrl: 'http://127.0.0.1:9/gallery', itemUrl: 'http://127.0.0.1:9/items' }),
      },
      logFile: path.join(ARTIFACTS, 'code-server.log'),
    },
  );
  environment.url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(environment.workspace)}`;
  await waitFor('code-server to answer', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
    return response?.ok ? true : undefined;
  }, 60000);
  return environment;
}

/** User and Machine settings: Chat off (it steals focus), quiet workbench, Chorus started with CHORUS_PYTHON. */
export function writeUserSettings(environment: Environment, chorusOverrides: Record<string, unknown>): void {
  const settings = {
    'chat.disableAIFeatures': true,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
    'workbench.enableExperiments': false,
    'security.workspace.trust.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoUpdate': false,
    'extensions.autoCheckUpdates': false,
    'git.enabled': false,
    'editor.minimap.enabled': false,
    'editor.hover.delay': 300,
    'files.autoSave': 'off',
    'window.commandCenter': false,
    'remote.autoForwardPorts': false,
    'workbench.colorTheme': 'Default Dark Modern',
    'chorus.interpreter': CHORUS_PYTHON,
    ...chorusOverrides,
  };
  writeFileSync(path.join(environment.userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  /** `chorus.interpreter` is machine-scoped: in code-server (a remote window) it is read from the Machine settings. */
  mkdirSync(path.join(environment.userData, 'Machine'), { recursive: true });
  writeFileSync(path.join(environment.userData, 'Machine', 'settings.json'), JSON.stringify({ 'chorus.interpreter': CHORUS_PYTHON }, null, 2));
}

/** TCP states in /proc/net/tcp. */
export const TCP_ESTABLISHED = '01';
export const TCP_TIME_WAIT = '06';

/**
 * How many TCP sockets on 127.0.0.1 have `port` as their local port (the server's side, `side: 'local'`) or
 * remote port (a client's side, `side: 'remote'`) and are in `state`, read from /proc/net/tcp{,6}.
 * A client-side socket in TIME_WAIT is a connection the client closed first: for a model call still waiting
 * for its answer, an aborted request.
 */
export function socketsOn(port: number, side: 'local' | 'remote', state: string): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const column = side === 'local' ? 1 : 2;
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) {
      continue;
    }
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 3 && fields[column].endsWith(`:${hexPort}`) && fields[3] === state) {
        count += 1;
      }
    }
  }
  return count;
}

export async function stopEnvironment(environment: Environment | undefined): Promise<void> {
  if (!environment) {
    return;
  }
  await stopProcess(environment.codeServer);
  await stopProcess(environment.fakeModels);
  await stopProcess(environment.slowModels);
  const logs = path.join(environment.userData, 'logs');
  if (existsSync(logs)) {
    await cp(logs, path.join(ARTIFACTS, 'vscode-logs'), { recursive: true }).catch(() => undefined);
  }
  await rm(environment.root, { recursive: true, force: true });
}
