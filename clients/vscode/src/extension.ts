/**
 * Entry point of the Chorus extension for VS Code and Cursor: starts `chorus serve` and registers the
 * palette commands and the status bar item (the hover with each model's words, and the quick fixes
 * "Dismiss: not a problem" / "Mark as useful", come from the server).
 *
 * The palette commands have their own ids (`chorus.palette.*`) because vscode-languageclient registers the
 * server's own commands (`chorus.reviewSelection`, …) itself.
 */

import * as vscode from 'vscode';

import { ChorusClient } from './chorusClient';
import { ChorusFeatures } from './features';
import { ChorusStatusBar, MemoryDocuments, RunningRequests, STATUS_BAR_COMMAND } from './ui';

let chorus: ChorusClient | undefined;

/** What `activate` returns: used by tests and by other extensions. */
export interface ChorusApi {
  features: ChorusFeatures;
  client: ChorusClient;
}

export async function activate(context: vscode.ExtensionContext): Promise<ChorusApi> {
  const output = vscode.window.createOutputChannel('Chorus', { log: true });
  const trace = vscode.window.createOutputChannel('Chorus Trace', { log: true });
  const statusBar = new ChorusStatusBar();
  const running = new RunningRequests();
  const previews = new MemoryDocuments('chorus-preview');
  const explanations = new MemoryDocuments('chorus-explain');
  const reports = new MemoryDocuments('chorus-report');
  chorus = new ChorusClient(output, trace, statusBar);
  const features = new ChorusFeatures(chorus, running, statusBar, previews, explanations, reports, output);
  const client = chorus;

  context.subscriptions.push(
    output,
    trace,
    statusBar,
    previews,
    explanations,
    reports,
    client,
    vscode.commands.registerCommand('chorus.palette.reviewSelection', (...args: unknown[]) => features.reviewSelection(...args)),
    vscode.commands.registerCommand('chorus.palette.implementStub', (...args: unknown[]) => features.implementStub(...args)),
    vscode.commands.registerCommand('chorus.palette.explainDiagnostics', (...args: unknown[]) =>
      features.explainDiagnostics(...args),
    ),
    vscode.commands.registerCommand('chorus.palette.showModels', () => features.showModels()),
    vscode.commands.registerCommand('chorus.palette.showStats', () => features.showStats()),
    vscode.commands.registerCommand('chorus.palette.restartServer', async () => {
      output.info('Restart requested.');
      await client.restart();
    }),
    vscode.commands.registerCommand('chorus.palette.showOutput', () => output.show()),
    vscode.commands.registerCommand('chorus.palette.cancel', () => features.cancelAll()),
    vscode.commands.registerCommand(STATUS_BAR_COMMAND, () => {
      if (features.cancelAll() === 0) {
        output.show();
      }
    }),
  );

  void client.start();
  return { features, client };
}

export async function deactivate(): Promise<void> {
  await chorus?.stop();
  chorus = undefined;
}
