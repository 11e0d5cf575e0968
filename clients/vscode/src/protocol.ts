/**
 * The Chorus server's custom protocol: method names and the shapes of their parameters and results.
 *
 * Plain TypeScript (no `vscode` import) so the unit tests can use it. Positions and ranges are LSP's:
 * 0-based lines and UTF-16 characters.
 */

export const ReviewSelectionMethod = 'chorus/reviewSelection';
export const ImplementStubMethod = 'chorus/implementStub';
export const ExplainDiagnosticsMethod = 'chorus/explainDiagnostics';
export const ModelsMethod = 'chorus/models';
export const StatusNotificationMethod = 'chorus/status';

/** The commands in the server's executeCommandProvider (registered by vscode-languageclient itself). */
export const ServerCommands = {
  reviewSelection: 'chorus.reviewSelection',
  implementStub: 'chorus.implementStub',
  explainDiagnostics: 'chorus.explainDiagnostics',
} as const;

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface LspTextEdit {
  range: LspRange;
  newText: string;
}

export interface LspDiagnostic {
  range: LspRange;
  message: string;
  severity?: number;
  source?: string;
  code?: string | number;
  relatedInformation?: { location: { uri: string; range: LspRange }; message: string }[];
  data?: unknown;
}

export interface LspWorkspaceEdit {
  changes?: Record<string, LspTextEdit[]>;
  documentChanges?: unknown[];
}

export type ModelStatus = 'ok' | 'error' | 'timeout' | 'invalid' | 'cancelled' | 'skipped';

/** What one seat did for one request. */
export interface ModelReport {
  name: string;
  model?: string;
  status: ModelStatus | string;
  latency_ms?: number | null;
  error?: string | null;
}

export interface ReviewSelectionParams {
  textDocument: { uri: string };
  range: LspRange;
  workDoneToken?: string;
}

export interface ReviewSelectionResult {
  diagnostics: LspDiagnostic[];
  models: ModelReport[];
}

export interface ImplementStubParams {
  textDocument: { uri: string };
  position: LspPosition;
  workDoneToken?: string;
}

export interface ImplementCandidate {
  title: string;
  edit: LspWorkspaceEdit;
  models: string[];
  votes: number;
  valid: boolean;
  problems: string[];
  code: string;
}

export interface ImplementStubResult {
  candidates: ImplementCandidate[];
  models: ModelReport[];
}

export interface ExplainDiagnosticsParams {
  textDocument: { uri: string };
  range: LspRange;
  diagnostics?: LspDiagnostic[];
  workDoneToken?: string;
}

export interface ExplainDiagnosticsResult {
  explanation: string;
  fixes: unknown[];
  models: ModelReport[];
}

/** One configured seat, as `chorus/models` describes it. */
export interface SeatDescription {
  name: string;
  model: string;
  panels: string[];
  arbiter: boolean;
  /** How the seat fared on its last request (a ModelReport), or null before its first request. */
  last_status?: ModelReport | string | null;
}

export interface ModelsResult {
  models: SeatDescription[];
  origin?: string | null;
  notice?: string | null;
  /** Why no panel can run (e.g. no model configured), when that is so. */
  problem?: string | null;
}

/** The server's `chorus/status` notification, shown in the status bar. */
export interface StatusParams {
  state: 'idle' | 'busy' | 'error' | string;
  message?: string | null;
  active?: number | string[] | null;
}

/** JSON-RPC's "request cancelled" error code, returned by the server when `$/cancelRequest` arrived. */
export const RequestCancelledCode = -32800;
