/**
 * The palette commands: review a selection, implement a stub (quick pick + diff preview), explain
 * diagnostics (markdown preview beside the editor), show the models, show the model stats (the server's
 * markdown table in a preview beside the editor).
 *
 * Every request runs under a cancellable progress notification; cancelling it (or clicking the busy status
 * bar item) cancels the request, which vscode-languageclient turns into `$/cancelRequest` for the server.
 */

import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { WorkDoneProgress, type CodeAction, type LanguageClient, type WorkspaceEdit } from 'vscode-languageclient/node';

import type { ChorusClient } from './chorusClient';
import { candidateItem, explanationDocument, modelsTitle, reviewSummary, seatItem } from './format';
import {
  ExplainDiagnosticsMethod,
  ImplementStubMethod,
  ModelsMethod,
  RequestCancelledCode,
  ReviewSelectionMethod,
  StatsMethod,
  type ExplainDiagnosticsResult,
  type ImplementCandidate,
  type ImplementStubResult,
  type LspDiagnostic,
  type LspPosition,
  type LspRange,
  type ModelsResult,
  type ReviewSelectionResult,
  type StatsResult,
} from './protocol';
import { applyTextEdits, editsByUri } from './textEdits';
import type { ChorusStatusBar, MemoryDocuments, RunningRequests } from './ui';

/** Thrown inside a request when the user cancelled it. */
class Cancelled extends Error {}

/** Where a command acts: a document and a range/position in it. */
interface Target {
  editor: vscode.TextEditor;
  range: vscode.Range;
}

export class ChorusFeatures {
  constructor(
    private readonly chorus: ChorusClient,
    private readonly running: RunningRequests,
    private readonly statusBar: ChorusStatusBar,
    private readonly previews: MemoryDocuments,
    private readonly explanations: MemoryDocuments,
    private readonly reports: MemoryDocuments,
    private readonly output: vscode.LogOutputChannel,
  ) {}

  /** "Chorus: Review Selection": the selection, or the whole file when nothing is selected. */
  async reviewSelection(...args: unknown[]): Promise<ReviewSelectionResult | undefined> {
    const target = await this.target(args, 'file');
    const client = target && (await this.chorus.ready());
    if (!target || !client) {
      return undefined;
    }
    const uri = client.code2ProtocolConverter.asUri(target.editor.document.uri);
    const result = await this.request<ReviewSelectionResult>(client, 'reviewing', ReviewSelectionMethod, {
      textDocument: { uri },
      range: client.code2ProtocolConverter.asRange(target.range),
    });
    if (result) {
      const summary = reviewSummary(result.diagnostics.length, result.models);
      this.output.info(summary);
      if (result.diagnostics.length === 0 || result.models.some((model) => model.status !== 'ok')) {
        void vscode.window.showInformationMessage(summary);
      }
    }
    return result;
  }

  /** "Chorus: Implement Stub": candidates in a quick pick, the active one shown as a diff, applied on accept. */
  async implementStub(...args: unknown[]): Promise<ImplementCandidate | undefined> {
    const target = await this.target(args, 'cursor');
    const client = target && (await this.chorus.ready());
    if (!target || !client) {
      return undefined;
    }
    const document = target.editor.document;
    const result = await this.request<ImplementStubResult>(client, 'implementing', ImplementStubMethod, {
      textDocument: { uri: client.code2ProtocolConverter.asUri(document.uri) },
      position: client.code2ProtocolConverter.asPosition(target.range.start),
    });
    if (!result) {
      return undefined;
    }
    if (result.candidates.length === 0) {
      void vscode.window.showInformationMessage(`Chorus: no candidate. ${reviewSummary(0, result.models)}`);
      return undefined;
    }
    const chosen = await this.pickCandidate(document, result.candidates);
    await this.closePreviews();
    if (!chosen) {
      return undefined;
    }
    if (!chosen.valid) {
      const problems = chosen.problems.join('; ') || 'it did not validate';
      const answer = await vscode.window.showWarningMessage(
        `This candidate has problems: ${problems}. Apply it anyway?`,
        { modal: true },
        'Apply',
      );
      if (answer !== 'Apply') {
        return undefined;
      }
    }
    const edit = await client.protocol2CodeConverter.asWorkspaceEdit(chosen.edit as WorkspaceEdit);
    if (!(await vscode.workspace.applyEdit(edit))) {
      void vscode.window.showErrorMessage('Chorus: the candidate could not be applied (the file changed?).');
      return undefined;
    }
    await vscode.window.showTextDocument(document, target.editor.viewColumn);
    return chosen;
  }

  /** "Chorus: Explain Diagnostics": the panel's explanation of the diagnostics under the cursor/selection. */
  async explainDiagnostics(...args: unknown[]): Promise<ExplainDiagnosticsResult | undefined> {
    const target = await this.target(args, 'line');
    const client = target && (await this.chorus.ready());
    if (!target || !client) {
      return undefined;
    }
    const document = target.editor.document;
    const inRange = vscode.languages
      .getDiagnostics(document.uri)
      .filter((diagnostic) => diagnostic.range.intersection(target.range) !== undefined);
    /** The code action passes the diagnostics it was offered for (LSP form) as a third argument. */
    const given = Array.isArray(args[2]) ? (args[2] as LspDiagnostic[]) : undefined;
    const result = await this.request<ExplainDiagnosticsResult>(client, 'explaining', ExplainDiagnosticsMethod, {
      textDocument: { uri: client.code2ProtocolConverter.asUri(document.uri) },
      range: client.code2ProtocolConverter.asRange(target.range),
      diagnostics: given ?? (await client.code2ProtocolConverter.asDiagnostics(inRange)),
    });
    if (!result) {
      return undefined;
    }
    const name = document.uri.path.split('/').pop() ?? 'file';
    const uri = this.explanations.put(`/Chorus explanation - ${name}.md`, explanationDocument(result, name));
    await vscode.commands.executeCommand('markdown.showPreviewToSide', uri);
    if (result.fixes.length > 0) {
      void this.offerFixes(client, result.fixes);
    }
    return result;
  }

  /** "Chorus: Show Models": every seat, its panels and its last status. */
  async showModels(): Promise<ModelsResult | undefined> {
    const client = await this.chorus.ready();
    if (!client) {
      return undefined;
    }
    const result = await client.sendRequest<ModelsResult>(ModelsMethod, {});
    const items: (vscode.QuickPickItem & { seat?: string })[] = result.models.map((seat) => ({
      ...seatItem(seat),
      seat: seat.name,
    }));
    for (const note of [result.problem, result.notice]) {
      if (note) {
        items.unshift({ label: note, kind: vscode.QuickPickItemKind.Separator });
      }
    }
    if (result.models.length === 0) {
      items.push({ label: 'No model is configured: add [models] to chorus.toml or the "chorus.models" setting.' });
    }
    const picked = await vscode.window.showQuickPick(items, { title: modelsTitle(result), placeHolder: 'Chorus panel' });
    if (picked?.seat && result.origin && /chorus\.toml$/.test(result.origin)) {
      await vscode.window.showTextDocument(vscode.Uri.file(result.origin));
    }
    return result;
  }

  /** "Chorus: Show Model Stats": the memory's per-model table (`chorus/stats`), rendered as the server wrote it. */
  async showStats(): Promise<StatsResult | undefined> {
    const client = await this.chorus.ready();
    if (!client) {
      return undefined;
    }
    let result: StatsResult;
    try {
      result = await client.sendRequest<StatsResult>(StatsMethod, {});
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.output.error(`${StatsMethod} failed: ${message}`);
      void vscode.window.showErrorMessage(`Chorus: the stats could not be read: ${message}`);
      return undefined;
    }
    const uri = this.reports.put('/Chorus model stats.md', result.markdown);
    await vscode.commands.executeCommand('markdown.showPreviewToSide', uri);
    return result;
  }

  /** Cancel every running request (the busy status bar item and "Chorus: Cancel Running Requests"). */
  cancelAll(): number {
    const count = this.running.cancelAll();
    if (count > 0) {
      this.output.info(`Cancelled ${count} request${count === 1 ? '' : 's'}.`);
    }
    return count;
  }

  /** Send a request under a cancellable progress notification; undefined when cancelled or failed. */
  private async request<T>(client: LanguageClient, verb: string, method: string, params: object): Promise<T | undefined> {
    const title = `Chorus: ${verb}`;
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title, cancellable: true },
      async (progress, uiToken) => {
        const running = this.running.begin(uiToken);
        const workDoneToken = `chorus-${randomUUID()}`;
        let reported = 0;
        const subscription = client.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
          if (value.kind === 'end') {
            return;
          }
          const increment = value.percentage !== undefined ? Math.max(0, value.percentage - reported) : undefined;
          reported = value.percentage ?? reported;
          progress.report({ message: value.message, increment });
        });
        this.statusBar.showBusy(verb);
        try {
          return await raceCancellation(
            client.sendRequest<T>(method, { ...params, workDoneToken }, running.token),
            running.token,
          );
        } catch (error) {
          if (error instanceof Cancelled || isCancellation(error)) {
            this.output.info(`${method} cancelled.`);
            void vscode.window.setStatusBarMessage(`Chorus: ${verb} cancelled`, 4000);
            return undefined;
          }
          const message = error instanceof Error ? error.message : String(error);
          this.output.error(`${method} failed: ${message}`);
          void vscode.window.showErrorMessage(`Chorus: ${verb} failed: ${message}`, 'Show Output').then((choice) => {
            if (choice) {
              this.output.show(true);
            }
          });
          return undefined;
        } finally {
          subscription.dispose();
          running.finish();
          if (this.running.count === 0 && this.statusBar.kind === 'busy') {
            this.statusBar.showServerStatus({ state: 'idle' });
          }
        }
      },
    );
  }

  /** The quick pick of candidates; the active candidate is shown as a diff beside the editor. */
  private pickCandidate(document: vscode.TextDocument, candidates: ImplementCandidate[]): Promise<ImplementCandidate | undefined> {
    type Item = vscode.QuickPickItem & { candidate: ImplementCandidate; index: number };
    const quickPick = vscode.window.createQuickPick<Item>();
    quickPick.title = `Chorus: ${candidates.length} candidate${candidates.length === 1 ? '' : 's'} (the diff shows the highlighted one)`;
    quickPick.placeholder = 'Pick the implementation to apply';
    quickPick.ignoreFocusOut = true;
    quickPick.matchOnDescription = true;
    quickPick.matchOnDetail = true;
    quickPick.items = candidates.map((candidate, index) => ({ ...candidateItem(candidate, index), candidate, index }));
    return new Promise((resolve) => {
      let settled = false;
      const finish = (value: ImplementCandidate | undefined): void => {
        if (!settled) {
          settled = true;
          resolve(value);
          quickPick.dispose();
        }
      };
      quickPick.onDidChangeActive((items) => {
        if (items[0]) {
          void this.showCandidateDiff(document, items[0].candidate, items[0].index);
        }
      });
      quickPick.onDidAccept(() => finish((quickPick.selectedItems[0] ?? quickPick.activeItems[0])?.candidate));
      quickPick.onDidHide(() => finish(undefined));
      quickPick.show();
    });
  }

  private async showCandidateDiff(document: vscode.TextDocument, candidate: ImplementCandidate, index: number): Promise<void> {
    const documentUri = document.uri.toString();
    let preview = document.getText();
    for (const [uri, edits] of editsByUri(candidate.edit)) {
      if (vscode.Uri.parse(uri).toString() === documentUri) {
        preview = applyTextEdits(preview, edits);
      }
    }
    const previewUri = this.previews.put(document.uri.path, preview, `candidate=${index + 1}`);
    const name = document.uri.path.split('/').pop() ?? 'file';
    await vscode.commands.executeCommand('vscode.diff', document.uri, previewUri, `${name} ↔ Chorus candidate ${index + 1}: ${candidate.title}`, {
      preview: true,
      preserveFocus: true,
      viewColumn: vscode.ViewColumn.Beside,
    });
  }

  private async closePreviews(): Promise<void> {
    const tabs = vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) => {
      const input = tab.input;
      return input instanceof vscode.TabInputTextDiff && input.modified.scheme === this.previews.scheme;
    });
    if (tabs.length > 0) {
      await vscode.window.tabGroups.close(tabs);
    }
  }

  private async offerFixes(client: LanguageClient, fixes: unknown[]): Promise<void> {
    const count = `${fixes.length} fix${fixes.length === 1 ? '' : 'es'}`;
    const choice = await vscode.window.showInformationMessage(`Chorus suggests ${count}.`, 'Choose Fix…');
    if (choice !== 'Choose Fix…') {
      return;
    }
    const actions = await Promise.all(fixes.map((fix) => client.protocol2CodeConverter.asCodeAction(fix as CodeAction)));
    const picked = await vscode.window.showQuickPick(
      actions.map((action) => ({ label: action.title, action })),
      { title: 'Chorus: apply a fix' },
    );
    if (picked?.action.edit) {
      await vscode.workspace.applyEdit(picked.action.edit);
    }
    if (picked?.action.command) {
      await vscode.commands.executeCommand(picked.action.command.command, ...(picked.action.command.arguments ?? []));
    }
  }

  /**
   * The document and range a command acts on. Code actions pass `[uri, range]` or `[uri, position]`; the
   * editor context menu passes the document's Uri; the palette passes nothing (the active editor).
   */
  private async target(args: unknown[], fallback: 'file' | 'cursor' | 'line'): Promise<Target | undefined> {
    const [uriArg, whereArg] = args;
    let editor = vscode.window.activeTextEditor;
    const uri = typeof uriArg === 'string' ? vscode.Uri.parse(uriArg) : uriArg instanceof vscode.Uri ? uriArg : undefined;
    if (uri && editor?.document.uri.toString() !== uri.toString()) {
      editor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
    }
    if (!editor) {
      void vscode.window.showInformationMessage('Chorus: open a file first.');
      return undefined;
    }
    const explicit = asRange(whereArg);
    if (explicit) {
      return { editor, range: explicit };
    }
    const selection = editor.selection;
    if (!selection.isEmpty || fallback === 'cursor') {
      return { editor, range: new vscode.Range(selection.start, selection.end) };
    }
    if (fallback === 'line') {
      return { editor, range: editor.document.lineAt(selection.active.line).range };
    }
    const document = editor.document;
    return { editor, range: new vscode.Range(0, 0, document.lineCount, 0) };
  }
}

function asRange(value: unknown): vscode.Range | undefined {
  if (value instanceof vscode.Range) {
    return value;
  }
  if (value instanceof vscode.Position) {
    return new vscode.Range(value, value);
  }
  const range = value as Partial<LspRange> | undefined;
  if (range?.start && range.end) {
    return new vscode.Range(range.start.line, range.start.character, range.end.line, range.end.character);
  }
  const position = value as Partial<LspPosition> | undefined;
  if (typeof position?.line === 'number' && typeof position.character === 'number') {
    return new vscode.Range(position.line, position.character, position.line, position.character);
  }
  return undefined;
}

function isCancellation(error: unknown): boolean {
  if (error instanceof vscode.CancellationError) {
    return true;
  }
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === RequestCancelledCode;
}

/** Resolve with `promise`, or reject with `Cancelled` as soon as `token` is cancelled. */
function raceCancellation<T>(promise: Promise<T>, token: vscode.CancellationToken): Promise<T> {
  if (token.isCancellationRequested) {
    promise.catch(() => undefined);
    return Promise.reject(new Cancelled());
  }
  return new Promise<T>((resolve, reject) => {
    const subscription = token.onCancellationRequested(() => {
      subscription.dispose();
      reject(new Cancelled());
    });
    promise.then(
      (value) => {
        subscription.dispose();
        resolve(value);
      },
      (error: unknown) => {
        subscription.dispose();
        reject(error);
      },
    );
  });
}
