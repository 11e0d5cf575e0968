/**
 * Editor-side pieces that hold no protocol logic: the status bar item, the read-only virtual documents
 * used for the implement diff preview and the explanation page, and the tracker of running requests
 * (so the status bar can cancel them).
 */

import * as vscode from 'vscode';

import { lifecycleView, statusView, type StatusView } from './format';
import type { StatusParams } from './protocol';

export const STATUS_BAR_COMMAND = 'chorus.internal.statusBarClicked';

/**
 * The status bar item: idle / busy with the server's message / error / starting / stopped, and the server's
 * budget line (on a warning background) while a budget limit is near or reached.
 */
export class ChorusStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('chorus.status', vscode.StatusBarAlignment.Left, 10);
  private view: StatusView = lifecycleView('starting');

  constructor() {
    this.item.name = 'Chorus';
    this.item.command = STATUS_BAR_COMMAND;
    this.render();
    this.item.show();
  }

  get kind(): StatusView['kind'] {
    return this.view.kind;
  }

  /** Show the server's `chorus/status` notification. */
  showServerStatus(status: StatusParams): void {
    this.view = statusView(status);
    this.render();
  }

  showLifecycle(kind: 'starting' | 'stopped', detail?: string): void {
    this.view = lifecycleView(kind, detail);
    this.render();
  }

  /** Show a local busy state while a request runs and the server has not reported yet. */
  showBusy(message: string): void {
    this.view = statusView({ state: 'busy', message });
    this.render();
  }

  private render(): void {
    this.item.text = this.view.text;
    this.item.tooltip = this.view.tooltip;
    this.item.accessibilityInformation = { label: this.view.label, role: 'button' };
    this.item.backgroundColor =
      this.view.kind === 'error' || this.view.kind === 'stopped'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : this.view.budget !== undefined
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}

/** Read-only documents served from memory under one URI scheme. */
export class MemoryDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly contents = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly registration: vscode.Disposable;

  constructor(readonly scheme: string) {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(scheme, this);
  }

  /** Store `text` at `path` (e.g. "/Explanation.md") and return its URI. */
  put(path: string, text: string, query = ''): vscode.Uri {
    const uri = vscode.Uri.from({ scheme: this.scheme, path, query });
    this.contents.set(uri.toString(), text);
    this.changed.fire(uri);
    return uri;
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.toString()) ?? '';
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
  }
}

/** Cancellation sources of the requests in flight, so one click can cancel them all. */
export class RunningRequests {
  private readonly sources = new Set<vscode.CancellationTokenSource>();

  get count(): number {
    return this.sources.size;
  }

  /** A source cancelled when `linked` is cancelled or `cancelAll` runs; call `finish` when done. */
  begin(linked: vscode.CancellationToken): { token: vscode.CancellationToken; finish: () => void } {
    const source = new vscode.CancellationTokenSource();
    const subscription = linked.onCancellationRequested(() => source.cancel());
    this.sources.add(source);
    return {
      token: source.token,
      finish: () => {
        subscription.dispose();
        this.sources.delete(source);
        source.dispose();
      },
    };
  }

  cancelAll(): number {
    const count = this.sources.size;
    for (const source of this.sources) {
      source.cancel();
    }
    return count;
  }
}
