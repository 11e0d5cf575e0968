/**
 * The language client's lifecycle: finding how to start `chorus serve`, starting it, restarting it,
 * keeping its settings in sync, and reporting a start failure once, with a button to the setting.
 */

import * as os from 'node:os';
import * as vscode from 'vscode';
import {
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  LanguageClient,
  RevealOutputChannelOn,
  State,
  type LanguageClientOptions,
  type Middleware,
  type ServerOptions,
} from 'vscode-languageclient/node';

import { StatusNotificationMethod, type StatusParams } from './protocol';
import { findPythonExtensionInterpreter } from './pythonExtension';
import {
  describeCandidate,
  expandPath,
  planLaunch,
  probeCandidate,
  resolveLaunch,
  type LaunchProblem,
} from './serverLaunch';
import {
  answerConfigurationItem,
  buildChorusSection,
  classifyConfigurationChange,
  initializationOptions,
  type ChorusSection,
} from './settings';
import { rewriteCommand } from './textEdits';
import type { ChorusStatusBar } from './ui';

const CRASH_WINDOW_MS = 3 * 60 * 1000;
const MAX_RESTARTS = 3;

/**
 * A LanguageClient that logs its own errors instead of showing them: the extension shows one notification
 * per problem itself (vscode-languageclient would show two or three for a server that dies while starting).
 */
class ChorusLanguageClient extends LanguageClient {
  override error(message: string, data?: unknown, _showNotification?: boolean | 'force'): void {
    super.error(message, data, false);
  }
}

/**
 * The settings editor tab where `setting` is (or should be) set: the workspace's when it sets it, the
 * remote machine's in a remote window (machine-scoped settings are hidden from the User tab there), else User.
 */
function settingsCommandFor(setting: string): string {
  const inspected = vscode.workspace.getConfiguration().inspect(setting);
  if (inspected?.workspaceFolderValue !== undefined || inspected?.workspaceValue !== undefined) {
    return 'workbench.action.openWorkspaceSettings';
  }
  return vscode.env.remoteName ? 'workbench.action.openRemoteSettings' : 'workbench.action.openSettings';
}

/** Read the server-facing part of the `chorus` settings. */
export function readChorusSection(): ChorusSection {
  const configuration = vscode.workspace.getConfiguration('chorus');
  return buildChorusSection((key) => configuration.get(key));
}

/** Owns the LanguageClient; `client` is undefined while stopped. */
export class ChorusClient implements vscode.Disposable {
  client: LanguageClient | undefined;
  /** Why the server is not running, when it could not be started. */
  launchProblem: LaunchProblem | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private crashTimes: number[] = [];
  /** True once the server answered `initialize`: before that a closed connection is a start failure. */
  private running = false;
  private starting: Promise<void> | undefined;

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly trace: vscode.LogOutputChannel,
    private readonly statusBar: ChorusStatusBar,
  ) {
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((event) => this.onConfigurationChanged(event)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        this.output.info('The workspace is now trusted; restarting the server so its chorus.toml applies in full.');
        void this.restart();
      }),
    );
  }

  /** Start the server (a no-op if it is already starting). Reports a launch problem once. */
  start(): Promise<void> {
    this.starting ??= this.doStart().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  /** Stop the running server (if any) and start it again with the current settings. */
  async restart(): Promise<void> {
    await this.stop();
    this.crashTimes = [];
    await this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.running = false;
    if (client !== undefined) {
      try {
        await client.stop(5000);
      } catch (error) {
        this.output.warn(`Stopping the server: ${String(error)}`);
      }
    }
  }

  /** The running client, or undefined after telling the user why there is none. */
  async ready(): Promise<LanguageClient | undefined> {
    if (this.starting) {
      await this.starting;
    }
    if (this.client?.state === State.Running) {
      return this.client;
    }
    if (this.launchProblem) {
      void this.reportLaunchProblem(this.launchProblem);
    } else {
      void vscode.window
        .showErrorMessage('Chorus: the server is not running.', 'Restart Server', 'Show Output')
        .then((choice) => this.onRecoveryChoice(choice));
    }
    return undefined;
  }

  private async doStart(): Promise<void> {
    this.statusBar.showLifecycle('starting');
    this.launchProblem = undefined;
    const workspaceFolder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const configuration = vscode.workspace.getConfiguration('chorus');
    const home = os.homedir();
    const candidates = planLaunch({
      serverCommand: (configuration.get<string[]>('serverCommand') ?? []).map((part, index) =>
        index === 0 ? expandPath(part, workspaceFolder, home) : part,
      ),
      interpreter: expandPath(configuration.get<string>('interpreter') ?? '', workspaceFolder, home),
      pythonExtensionInterpreter: await findPythonExtensionInterpreter(this.output),
    });
    const resolution = await resolveLaunch(candidates, (candidate) => probeCandidate(candidate, process.env));
    if (!resolution.ok) {
      this.output.error(resolution.problem.message);
      this.output.info(`Tried: ${resolution.tried.map(describeCandidate).join('; ')}`);
      this.launchProblem = resolution.problem;
      this.statusBar.showLifecycle('stopped', 'the server could not be started');
      void this.reportLaunchProblem(resolution.problem);
      return;
    }
    const candidate = resolution.candidate;
    this.output.info(`Starting ${describeCandidate(candidate)}`);
    const serverOptions: ServerOptions = {
      command: candidate.command,
      args: candidate.args,
      options: { cwd: workspaceFolder, env: process.env },
    };
    const client = new ChorusLanguageClient('chorus', 'Chorus', serverOptions, this.clientOptions());
    client.onNotification(StatusNotificationMethod, (status: StatusParams) => {
      this.statusBar.showServerStatus(status);
    });
    this.client = client;
    this.running = false;
    try {
      await client.start();
      this.running = true;
      this.statusBar.showServerStatus({ state: 'idle', message: 'ready' });
      this.output.info('Server started.');
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.output.error(`The server failed to start: ${message}`);
      this.client = undefined;
      void client.dispose().catch(() => undefined);
      this.launchProblem = {
        message: `Chorus: the server exited while starting (${message}). See the output for its error.`,
        setting: candidate.source === 'serverCommand' ? 'chorus.serverCommand' : 'chorus.interpreter',
      };
      this.statusBar.showLifecycle('stopped', message);
      void this.reportLaunchProblem(this.launchProblem);
    }
  }

  private clientOptions(): LanguageClientOptions {
    const middleware: Middleware = {
      workspace: {
        /**
         * vscode-languageclient notifies a server that registered for configuration changes on *every*
         * change; the extension pushes the `chorus` section itself when that changes, so these are dropped.
         */
        didChangeConfiguration: async () => undefined,
        configuration: async (params, token, next) => {
          const section = readChorusSection();
          const chorusItems = params.items.map((item) => answerConfigurationItem(section, item.section));
          if (chorusItems.every((answer) => answer !== undefined)) {
            return chorusItems;
          }
          const others = await next(params, token);
          if (!Array.isArray(others)) {
            return others;
          }
          return chorusItems.map((answer, index) => (answer === undefined ? others[index] : answer));
        },
      },
      provideCodeActions: async (document, range, context, token, next) => {
        const actions = await next(document, range, context, token);
        return actions?.map((action) => {
          if (action instanceof vscode.CodeAction) {
            if (action.command) {
              action.command = rewriteCommand(action.command);
            }
            return action;
          }
          return rewriteCommand(action);
        });
      },
    };
    return {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.output,
      traceOutputChannel: this.trace,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: initializationOptions(readChorusSection(), vscode.workspace.isTrusted),
      middleware,
      errorHandler: {
        error: (_error, _message, count) => ({
          action: (count ?? 0) < 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
          handled: true,
        }),
        closed: () => this.onServerClosed(),
      },
      initializationFailedHandler: () => false,
    };
  }

  private onServerClosed(): { action: CloseAction; handled: boolean } {
    if (!this.running) {
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    const now = Date.now();
    this.crashTimes = [...this.crashTimes.filter((time) => now - time < CRASH_WINDOW_MS), now];
    if (this.crashTimes.length <= MAX_RESTARTS) {
      this.output.warn(`The server stopped; restarting it (${this.crashTimes.length} of ${MAX_RESTARTS}).`);
      return { action: CloseAction.Restart, handled: true };
    }
    this.output.error('The server stopped repeatedly; not restarting it.');
    this.statusBar.showLifecycle('stopped', 'the server stopped repeatedly');
    void vscode.window
      .showErrorMessage(
        'Chorus: the server stopped repeatedly. See the output for its error.',
        'Show Output',
        'Restart Server',
      )
      .then((choice) => this.onRecoveryChoice(choice));
    return { action: CloseAction.DoNotRestart, handled: true };
  }

  private async reportLaunchProblem(problem: LaunchProblem): Promise<void> {
    const choice = await vscode.window.showErrorMessage(problem.message, 'Open Setting', 'Show Output');
    if (choice === 'Open Setting') {
      await vscode.commands.executeCommand(settingsCommandFor(problem.setting), problem.setting);
    } else {
      await this.onRecoveryChoice(choice);
    }
  }

  private async onRecoveryChoice(choice: string | undefined): Promise<void> {
    if (choice === 'Show Output') {
      this.output.show(true);
    } else if (choice === 'Restart Server') {
      await this.restart();
    }
  }

  private onConfigurationChanged(event: vscode.ConfigurationChangeEvent): void {
    const change = classifyConfigurationChange((section) => event.affectsConfiguration(section));
    if (change === 'restart') {
      this.output.info('The server command changed; restarting the server.');
      void this.restart();
    } else if (change === 'resend' && this.client?.state === State.Running) {
      this.output.info('Settings changed; sending them to the server.');
      void this.client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { chorus: readChorusSection() },
      });
    }
  }

  dispose(): void {
    void this.stop();
    for (const disposable of this.disposables) {
      disposable.dispose();
    }
  }
}
