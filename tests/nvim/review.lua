-- Neovim (0.7+) as a real LSP client of `chorus serve`: review a selection through a code action,
-- check the consensus diagnostics, apply the panel's quick fix, and check the buffer changed.
--
-- Run headless by tests/test_neovim.py:
--   nvim --headless -u NONE -c "luafile tests/nvim/review.lua"
-- Inputs (environment):
--   CHORUS_CMD       JSON array: the server command, e.g. ["/venv/bin/chorus", "serve"]
--   CHORUS_API_BASE  the fake model server's base URL (seats claude, codex, gemini live there)
--   CHORUS_FILE      the buggy Python file to open
--   CHORUS_ROOT      the workspace folder
--   CHORUS_RESULT    where to write the JSON summary the pytest side asserts on
--   CHORUS_LOOP_LINE 1-based line of the planted bug; CHORUS_FIXED the text that line must become
-- Exits 0 when every check passed, 1 otherwise (the summary says which check failed).

local started = vim.loop.hrtime()
local summary = { checks = {}, progress = {}, ok = false }

local function elapsed()
  return (vim.loop.hrtime() - started) / 1e9
end

local function write_summary()
  summary.seconds = elapsed()
  local handle = assert(io.open(os.getenv("CHORUS_RESULT"), "w"))
  handle:write(vim.fn.json_encode(summary))
  handle:close()
end

local function finish(code)
  write_summary()
  vim.cmd(code == 0 and "qall!" or "cquit! " .. code)
end

local function check(condition, what, detail)
  table.insert(summary.checks, what)
  if not condition then
    summary.failed = what
    summary.detail = detail ~= nil and vim.inspect(detail) or nil
    error("check failed: " .. what, 2)
  end
end

local function request(bufnr, method, params, timeout_ms)
  local answers, reason = vim.lsp.buf_request_sync(bufnr, method, params, timeout_ms)
  check(answers ~= nil, method .. " answered", reason)
  local _, answer = next(answers)
  check(answer ~= nil and (answer.err or answer.error) == nil, method .. " succeeded", answer)
  return answer.result
end

local function chorus_diagnostics(bufnr)
  return vim.tbl_filter(function(d)
    return d.source == "chorus"
  end, vim.diagnostic.get(bufnr))
end

local function as_lsp(d)
  -- What the client sends back in a codeAction context (columns: the test file is ASCII).
  return {
    range = {
      start = { line = d.lnum, character = d.col },
      ["end"] = { line = d.end_lnum, character = d.end_col },
    },
    severity = d.severity,
    message = d.message,
    source = d.source,
    code = d.code,
    data = d.user_data and d.user_data.lsp and d.user_data.lsp.data or nil,
  }
end

local ok, failure = pcall(function()
  local api_base = assert(os.getenv("CHORUS_API_BASE"), "CHORUS_API_BASE is not set")
  local seats = {}
  for _, name in ipairs({ "claude", "codex", "gemini" }) do
    seats[name] = { model = "openai/" .. name, api_base = api_base, timeout = 10 }
  end

  vim.lsp.handlers["$/progress"] = (function(default)
    return function(err, result, ctx, config)
      local value = result.value or {}
      table.insert(summary.progress, { kind = value.kind, title = value.title, message = value.message })
      return default(err, result, ctx, config)
    end
  end)(vim.lsp.handlers["$/progress"])

  local client_id = vim.lsp.start_client({
    name = "chorus",
    cmd = vim.fn.json_decode(os.getenv("CHORUS_CMD")),
    root_dir = os.getenv("CHORUS_ROOT"),
    init_options = { chorus = { models = seats } },
    settings = { chorus = { policy = { deadline = 30 } } },
  })
  check(client_id ~= nil, "the client started")

  vim.cmd("filetype on")
  vim.cmd("edit " .. vim.fn.fnameescape(os.getenv("CHORUS_FILE")))
  local bufnr = vim.api.nvim_get_current_buf()
  check(vim.bo[bufnr].filetype == "python", "the buffer is Python", vim.bo[bufnr].filetype)
  vim.lsp.buf_attach_client(bufnr, client_id)
  local initialized = vim.wait(10000, function()
    local client = vim.lsp.get_client_by_id(client_id)
    return client ~= nil and client.initialized == true
  end, 20)
  check(initialized, "the server initialized")
  local client = vim.lsp.get_client_by_id(client_id)
  local commands = (client.server_capabilities.executeCommandProvider or {}).commands or {}
  check(vim.tbl_contains(commands, "chorus.reviewSelection"), "chorus.reviewSelection is a server command", commands)

  -- Select the whole function and ask for code actions, as `:lua vim.lsp.buf.range_code_action()` does.
  local uri = vim.uri_from_bufnr(bufnr)
  local last = vim.api.nvim_buf_line_count(bufnr) - 1
  local last_text = vim.api.nvim_buf_get_lines(bufnr, last, last + 1, true)[1]
  local selection = { start = { line = 0, character = 0 }, ["end"] = { line = last, character = #last_text } }
  local actions = request(bufnr, "textDocument/codeAction", {
    textDocument = { uri = uri },
    range = selection,
    context = { diagnostics = {} },
  }, 5000)
  local review
  for _, action in ipairs(actions or {}) do
    if action.command and action.command.command == "chorus.reviewSelection" then
      review = action
    end
  end
  check(review ~= nil, "a 'Review selection with Chorus' code action", actions)
  summary.review_title = review.title

  request(bufnr, "workspace/executeCommand", review.command, 60000)
  local published = vim.wait(10000, function()
    return #chorus_diagnostics(bufnr) > 0
  end, 20)
  check(published, "Chorus diagnostics were published")

  local loop_line = tonumber(os.getenv("CHORUS_LOOP_LINE")) - 1
  local found
  for _, d in ipairs(chorus_diagnostics(bufnr)) do
    summary.diagnostics = summary.diagnostics or {}
    table.insert(summary.diagnostics, { line = d.lnum, message = d.message, severity = d.severity })
    if d.lnum == loop_line then
      found = d
    end
  end
  check(found ~= nil, "a diagnostic on the planted bug", summary.diagnostics)
  check(found.message:match("^%[2/3%]") ~= nil, "the diagnostic carries its agreement count", found.message)
  check(found.severity == vim.diagnostic.severity.ERROR, "the diagnostic is an error", found.severity)

  -- Code actions on the diagnostic: the panel's quick fix, with its WorkspaceEdit.
  local fixes = request(bufnr, "textDocument/codeAction", {
    textDocument = { uri = uri },
    range = as_lsp(found).range,
    context = { diagnostics = { as_lsp(found) } },
  }, 5000)
  local fix
  for _, action in ipairs(fixes or {}) do
    if action.kind == "quickfix" and action.edit ~= nil then
      fix = fix or action
    end
  end
  check(fix ~= nil, "a quick fix with an edit", fixes)
  summary.fix_title = fix.title
  check(fix.title:match("^Fix %(2/3 models%)") ~= nil, "the quick fix names its votes", fix.title)

  vim.lsp.util.apply_workspace_edit(fix.edit, "utf-16")
  local fixed_line = vim.api.nvim_buf_get_lines(bufnr, loop_line, loop_line + 1, true)[1]
  summary.fixed_line = fixed_line
  check(fixed_line == os.getenv("CHORUS_FIXED"), "the quick fix changed the buffer", fixed_line)
  local cleared = vim.wait(5000, function()
    return #vim.tbl_filter(function(d)
      return d.lnum == loop_line
    end, chorus_diagnostics(bufnr)) == 0
  end, 20)
  check(cleared, "the fixed line lost its diagnostic")

  vim.lsp.stop_client(client_id)
  vim.wait(3000, function()
    return vim.lsp.client_is_stopped(client_id)
  end, 20)
  summary.ok = true
end)

if not ok then
  summary.failed = summary.failed or "lua error"
  summary.detail = summary.detail or tostring(failure)
  io.stderr:write("FAILED: " .. summary.failed .. "\n" .. summary.detail .. "\n")
  finish(1)
else
  finish(0)
end
