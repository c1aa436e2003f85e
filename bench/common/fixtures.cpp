#include "fixtures.hpp"

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

namespace bench {
namespace {

using json = nlohmann::ordered_json;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false);
}

// Deterministic pseudo-random numbers (the same fixture everywhere).
struct lcg {
  std::uint64_t s;
  std::uint32_t next() {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(s >> 33);
  }
  std::size_t pick(std::size_t n) { return next() % n; }
};

// ---------------------------------------------------------------------------------------
// The system prompt: guideline paragraphs as a coding agent sends them.

const char* const system_paragraphs[] = {
    "You are an interactive command line coding agent that helps users with software "
    "engineering tasks. Use the instructions below and the tools available to you to assist "
    "the user. IMPORTANT: Assist with defensive security tasks only. Refuse to create, modify, "
    "or improve code that may be used maliciously. Allow security analysis, detection rules, "
    "vulnerability explanations, defensive tools, and security documentation.",
    "# Tone and style\nYou should be concise, direct, and to the point. When you run a "
    "non-trivial bash command, you should explain what the command does and why you are "
    "running it, to make sure the user understands what you are doing (this is especially "
    "important when you are running a command that will make changes to the user's system). "
    "Remember that your output will be displayed on a command line interface. Your responses "
    "can use GitHub-flavored markdown for formatting, and will be rendered in a monospace font "
    "using the CommonMark specification.",
    "Output text to communicate with the user; all text you output outside of tool use is "
    "displayed to the user. Only use tools to complete tasks. Never use tools like Bash or code "
    "comments as means to communicate with the user during the session. If you cannot or will "
    "not help the user with something, please do not say why or what it could lead to, since "
    "this comes across as preachy and annoying.",
    "IMPORTANT: You should minimize output tokens as much as possible while maintaining "
    "helpfulness, quality, and accuracy. Only address the specific query or task at hand, "
    "avoiding tangential information unless absolutely critical for completing the request. "
    "If you can answer in 1-3 sentences or a short paragraph, please do. IMPORTANT: You should "
    "NOT answer with unnecessary preamble or postamble (such as explaining your code or "
    "summarizing your action), unless the user asks you to.",
    "<example>\nuser: 2 + 2\nassistant: 4\n</example>\n\n<example>\nuser: what is 2+2?\n"
    "assistant: 4\n</example>\n\n<example>\nuser: is 11 a prime number?\nassistant: Yes\n"
    "</example>\n\n<example>\nuser: what command should I run to list files in the current "
    "directory?\nassistant: ls\n</example>\n\n<example>\nuser: How many golf balls fit inside "
    "a jetta?\nassistant: 150000\n</example>",
    "# Proactiveness\nYou are allowed to be proactive, but only when the user asks you to do "
    "something. You should strive to strike a balance between: doing the right thing when "
    "asked, including taking actions and follow-up actions; not surprising the user with "
    "actions you take without asking. For example, if the user asks you how to approach "
    "something, you should do your best to answer their question first, and not immediately "
    "jump into taking actions.",
    "# Following conventions\nWhen making changes to files, first understand the file's code "
    "conventions. Mimic code style, use existing libraries and utilities, and follow existing "
    "patterns. NEVER assume that a given library is available, even if it is well known. "
    "Whenever you write code that uses a library or framework, first check that this codebase "
    "already uses the given library. For example, you might look at neighboring files, or "
    "check the package.json (or cargo.toml, and so on depending on the language).",
    "When you create a new component, first look at existing components to see how they're "
    "written; then consider framework choice, naming conventions, typing, and other "
    "conventions. When you edit a piece of code, first look at the code's surrounding context "
    "(especially its imports) to understand the code's choice of frameworks and libraries. "
    "Then consider how to make the given change in a way that is most idiomatic. Always follow "
    "security best practices. Never introduce code that exposes or logs secrets and keys. "
    "Never commit secrets or keys to the repository.",
    "# Code style\n- IMPORTANT: DO NOT ADD ***ANY*** COMMENTS unless asked\n\n# Task "
    "Management\nYou have access to the TodoWrite tools to help you manage and plan tasks. Use "
    "these tools VERY frequently to ensure that you are tracking your tasks and giving the user "
    "visibility into your progress. These tools are also EXTREMELY helpful for planning tasks, "
    "and for breaking down larger complex tasks into smaller steps. If you do not use this tool "
    "when planning, you may forget to do important tasks - and that is unacceptable.",
    "It is critical that you mark todos as completed as soon as you are done with a task. Do "
    "not batch up multiple tasks before marking them as completed.\n\n<example>\nuser: Run the "
    "build and fix any type errors\nassistant: I'm going to use the TodoWrite tool to write "
    "the following items to the todo list:\n- Run the build\n- Fix any type errors\n\nI'm now "
    "going to run the build using Bash.\n\nLooks like I found 10 type errors. I'm going to use "
    "the TodoWrite tool to write 10 items to the todo list.\n</example>",
    "# Doing tasks\nThe user will primarily request you perform software engineering tasks. "
    "This includes solving bugs, adding new functionality, refactoring code, explaining code, "
    "and more. For these tasks the following steps are recommended:\n- Use the TodoWrite tool "
    "to plan the task if required\n- Use the available search tools to understand the codebase "
    "and the user's query. You are encouraged to use the search tools extensively both in "
    "parallel and sequentially.\n- Implement the solution using all tools available to you\n- "
    "Verify the solution if possible with tests. NEVER assume specific test framework or test "
    "script. Check the README or search codebase to determine the testing approach.",
    "- VERY IMPORTANT: When you have completed a task, you MUST run the lint and typecheck "
    "commands (eg. npm run lint, npm run typecheck, ruff, etc.) with Bash if they were "
    "provided to you to ensure your code is correct. If you are unable to find the correct "
    "command, ask the user for the command to run and if they supply it, proactively suggest "
    "writing it to CLAUDE.md so that you will know to run it next time.\nNEVER commit changes "
    "unless the user explicitly asks you to. It is VERY IMPORTANT to only commit when "
    "explicitly asked, otherwise the user will feel that you are being too proactive.",
    "# Tool usage policy\n- When doing file search, prefer to use the Task tool in order to "
    "reduce context usage.\n- You should proactively use the Task tool with specialized agents "
    "when the task at hand matches the agent's description.\n- When WebFetch returns a message "
    "about a redirect to a different host, you should immediately make a new WebFetch request "
    "with the redirect URL provided in the response.\n- You have the capability to call "
    "multiple tools in a single response. When multiple independent pieces of information are "
    "requested, batch your tool calls together for optimal performance.",
    "Here is useful information about the environment you are running in:\n<env>\nWorking "
    "directory: /home/dev/projects/gateway\nIs directory a git repo: Yes\nPlatform: linux\nOS "
    "Version: Linux 6.1.0-18-amd64\nToday's date: 2025-11-26\n</env>\nYou are powered by the "
    "model named Sonnet 4.5. The exact model ID is claude-sonnet-4-5-20250929.\n\n"
    "Assistant knowledge cutoff is January 2025.",
    "IMPORTANT: Always use the TodoWrite tool to plan and track tasks throughout the "
    "conversation.\n\n# Code References\n\nWhen referencing specific functions or pieces of "
    "code include the pattern `file_path:line_number` to allow the user to easily navigate to "
    "the source code location.\n\n<example>\nuser: Where are errors from the client handled?\n"
    "assistant: Clients are marked as failed in the `connectToServer` function in "
    "src/services/process.ts:712.\n</example>",
    "gitStatus: This is the git status at the start of the conversation. Note that this status "
    "is a snapshot in time, and will not update during the conversation.\nCurrent branch: "
    "feature/pool-failover\n\nMain branch (you will usually use this for PRs): main\n\nStatus:\n"
    "M src/pool/pool_manager.cpp\n M src/server/handler.cpp\n?? tests/unit/pool/failover_test.cpp"
    "\n\nRecent commits:\n3f1c2ab Pool manager: least-recently-used tiebreak\n9e0d7c1 Upstream "
    "client: pooled keep-alive connections\n51aa0f4 Config: validation with key names\n"
    "c0ffee1 Initial import",
};

// ---------------------------------------------------------------------------------------
// 24 tool definitions with JSON schemas (as a coding agent declares them).

struct tool_def {
  const char* name;
  const char* description;
  const char* schema;
};

const tool_def
    tool_defs
        [] =
            {
                {"Task",
                 "Launch a new agent to handle complex, multi-step tasks autonomously. Available "
                 "agent "
                 "types: general-purpose (researching complex questions, searching for code, "
                 "executing "
                 "multi-step tasks), statusline-setup, output-style-setup. When to use: when you "
                 "are "
                 "searching for a keyword or file and are not confident that you will find the "
                 "right match "
                 "in the first few tries. When NOT to use: to read a specific file path, use Read "
                 "instead.",
                 R"J({"type":"object","properties":{"description":{"type":"string","description":"A short (3-5 word) description of the task"},"prompt":{"type":"string","description":"The task for the agent to perform"},"subagent_type":{"type":"string","description":"The type of specialized agent to use for this task"}},"required":["description","prompt","subagent_type"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"Bash",
                 "Executes a given bash command in a persistent shell session with optional "
                 "timeout, "
                 "ensuring proper handling and security measures. Before executing the command, "
                 "verify the "
                 "directory exists. Always quote file paths that contain spaces with double "
                 "quotes. You can "
                 "specify an optional timeout in milliseconds (up to 600000ms / 10 minutes). If "
                 "not "
                 "specified, commands will timeout after 120000ms (2 minutes). Avoid using Bash "
                 "with the "
                 "find, grep, cat, head, tail, sed, awk, or echo commands: use the dedicated "
                 "tools.",
                 R"J({"type":"object","properties":{"command":{"type":"string","description":"The command to execute"},"timeout":{"type":"number","description":"Optional timeout in milliseconds (max 600000)"},"description":{"type":"string","description":"Clear, concise description of what this command does in 5-10 words, in active voice."},"run_in_background":{"type":"boolean","description":"Set to true to run this command in the background. Use BashOutput to read the output later."}},"required":["command"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"Glob",
                 "Fast file pattern matching tool that works with any codebase size. Supports glob "
                 "patterns like \"**/*.js\" or \"src/**/*.ts\". Returns matching file paths sorted "
                 "by "
                 "modification time. Use this tool when you need to find files by name patterns.",
                 R"J({"type":"object","properties":{"pattern":{"type":"string","description":"The glob pattern to match files against"},"path":{"type":"string","description":"The directory to search in. If not specified, the current working directory will be used. Must be a valid directory path if provided."}},"required":["pattern"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"Grep",
                 "A powerful search tool built on ripgrep. ALWAYS use Grep for search tasks. NEVER "
                 "invoke "
                 "grep or rg as a Bash command. Supports full regex syntax (e.g., \"log.*Error\", "
                 "\"function\\\\s+\\\\w+\"). Filter files with glob parameter or type parameter. "
                 "Output "
                 "modes: \"content\" shows matching lines, \"files_with_matches\" shows only file "
                 "paths "
                 "(default), \"count\" shows match counts.",
                 R"J({"type":"object","properties":{"pattern":{"type":"string","description":"The regular expression pattern to search for in file contents"},"path":{"type":"string","description":"File or directory to search in (rg PATH). Defaults to current working directory."},"glob":{"type":"string","description":"Glob pattern to filter files (e.g. \"*.js\", \"*.{ts,tsx}\") - maps to rg --glob"},"output_mode":{"type":"string","enum":["content","files_with_matches","count"],"description":"Output mode. Defaults to \"files_with_matches\"."},"-B":{"type":"number","description":"Number of lines to show before each match (rg -B)."},"-A":{"type":"number","description":"Number of lines to show after each match (rg -A)."},"-C":{"type":"number","description":"Number of lines to show before and after each match (rg -C)."},"-n":{"type":"boolean","description":"Show line numbers in output (rg -n)."},"-i":{"type":"boolean","description":"Case insensitive search (rg -i)"},"type":{"type":"string","description":"File type to search (rg --type). Common types: js, py, rust, go, java, etc."},"head_limit":{"type":"number","description":"Limit output to first N lines/entries."},"multiline":{"type":"boolean","description":"Enable multiline mode where . matches newlines (rg -U --multiline-dotall). Default: false."}},"required":["pattern"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"ExitPlanMode",
                 "Use this tool when you are in plan mode and have finished presenting your plan "
                 "and are "
                 "ready to code. This will prompt the user to exit plan mode. Only use this tool "
                 "when the "
                 "task requires planning the implementation steps of a task that requires writing "
                 "code.",
                 R"J({"type":"object","properties":{"plan":{"type":"string","description":"The plan you came up with, that you want to run by the user for approval. Supports markdown."}},"required":["plan"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"Read",
                 "Reads a file from the local filesystem. You can access any file directly by "
                 "using this "
                 "tool. The file_path parameter must be an absolute path, not a relative path. By "
                 "default, "
                 "it reads up to 2000 lines starting from the beginning of the file. Results are "
                 "returned "
                 "using cat -n format, with line numbers starting at 1. This tool can read images, "
                 "PDF "
                 "files and Jupyter notebooks.",
                 R"J({"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path to the file to read"},"offset":{"type":"number","description":"The line number to start reading from. Only provide if the file is too large to read at once"},"limit":{"type":"number","description":"The number of lines to read. Only provide if the file is too large to read at once."}},"required":["file_path"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"Edit",
                 "Performs exact string replacements in files. You must use your Read tool at "
                 "least once "
                 "in the conversation before editing. When editing text from Read tool output, "
                 "ensure you "
                 "preserve the exact indentation (tabs/spaces) as it appears AFTER the line number "
                 "prefix. "
                 "The edit will FAIL if old_string is not unique in the file. Use replace_all for "
                 "replacing "
                 "and renaming strings across the file.",
                 R"J({"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path to the file to modify"},"old_string":{"type":"string","description":"The text to replace"},"new_string":{"type":"string","description":"The text to replace it with (must be different from old_string)"},"replace_all":{"type":"boolean","default":false,"description":"Replace all occurences of old_string (default false)"}},"required":["file_path","old_string","new_string"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"MultiEdit",
                 "This is a tool for making multiple edits to a single file in one operation. It "
                 "is built "
                 "on top of the Edit tool and allows you to perform multiple find-and-replace "
                 "operations "
                 "efficiently. Prefer this tool over the Edit tool when you need to make multiple "
                 "edits to "
                 "the same file. All edits are applied in sequence, in the order they are "
                 "provided.",
                 R"J({"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path to the file to modify"},"edits":{"type":"array","items":{"type":"object","properties":{"old_string":{"type":"string","description":"The text to replace"},"new_string":{"type":"string","description":"The text to replace it with"},"replace_all":{"type":"boolean","default":false,"description":"Replace all occurences of old_string (default false)."}},"required":["old_string","new_string"],"additionalProperties":false},"minItems":1,"description":"Array of edit operations to perform sequentially on the file"}},"required":["file_path","edits"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"Write",
                 "Writes a file to the local filesystem. This tool will overwrite the existing "
                 "file if "
                 "there is one at the provided path. If this is an existing file, you MUST use the "
                 "Read "
                 "tool first to read the file's contents. ALWAYS prefer editing existing files in "
                 "the "
                 "codebase. NEVER write new files unless explicitly required.",
                 R"J({"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path to the file to write (must be absolute, not relative)"},"content":{"type":"string","description":"The content to write to the file"}},"required":["file_path","content"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"NotebookEdit",
                 "Completely replaces the contents of a specific cell in a Jupyter notebook "
                 "(.ipynb file) "
                 "with new source. Jupyter notebooks are interactive documents that combine code, "
                 "text, and "
                 "visualizations. The notebook_path parameter must be an absolute path. Use "
                 "edit_mode=insert "
                 "to add a new cell at the index specified by cell_number.",
                 R"J({"type":"object","properties":{"notebook_path":{"type":"string","description":"The absolute path to the Jupyter notebook file to edit (must be absolute, not relative)"},"cell_id":{"type":"string","description":"The ID of the cell to edit."},"new_source":{"type":"string","description":"The new source for the cell"},"cell_type":{"type":"string","enum":["code","markdown"],"description":"The type of the cell (code or markdown)."},"edit_mode":{"type":"string","enum":["replace","insert","delete"],"description":"The type of edit to make (replace, insert, delete). Defaults to replace."}},"required":["notebook_path","new_source"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"WebFetch",
                 "Fetches content from a specified URL and processes it using an AI model. Takes a "
                 "URL and "
                 "a prompt as input, fetches the URL content, converts HTML to markdown, processes "
                 "the "
                 "content with the prompt using a small, fast model, and returns the model's "
                 "response about "
                 "the content. Use this tool when you need to retrieve and analyze web content.",
                 R"J({"type":"object","properties":{"url":{"type":"string","format":"uri","description":"The URL to fetch content from"},"prompt":{"type":"string","description":"The prompt to run on the fetched content"}},"required":["url","prompt"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"TodoWrite",
                 "Use this tool to create and manage a structured task list for your current "
                 "coding "
                 "session. This helps you track progress, organize complex tasks, and demonstrate "
                 "thoroughness to the user. Use it for complex multi-step tasks, when the user "
                 "provides "
                 "multiple tasks, and after receiving new instructions. Task states: pending, "
                 "in_progress "
                 "(limit to ONE task at a time), completed.",
                 R"J({"type":"object","properties":{"todos":{"type":"array","items":{"type":"object","properties":{"content":{"type":"string","minLength":1},"status":{"type":"string","enum":["pending","in_progress","completed"]},"activeForm":{"type":"string","minLength":1}},"required":["content","status","activeForm"],"additionalProperties":false},"description":"The updated todo list"}},"required":["todos"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"WebSearch",
                 "Allows Claude to search the web and use the results to inform responses. "
                 "Provides "
                 "up-to-date information for current events and recent data. Returns search result "
                 "information formatted as search result blocks. Domain filtering is supported to "
                 "include "
                 "or block specific websites.",
                 R"J({"type":"object","properties":{"query":{"type":"string","minLength":2,"description":"The search query to use"},"allowed_domains":{"type":"array","items":{"type":"string"},"description":"Only include search results from these domains"},"blocked_domains":{"type":"array","items":{"type":"string"},"description":"Never include search results from these domains"}},"required":["query"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"BashOutput",
                 "Retrieves output from a running or completed background bash shell. Takes a "
                 "shell_id "
                 "parameter identifying the shell. Always returns only new output since the last "
                 "check. "
                 "Returns stdout and stderr output along with shell status. Supports optional "
                 "regex "
                 "filtering to show only lines matching a pattern.",
                 R"J({"type":"object","properties":{"bash_id":{"type":"string","description":"The ID of the background shell to retrieve output from"},"filter":{"type":"string","description":"Optional regular expression to filter the output lines. Only lines matching this regex will be included in the result."}},"required":["bash_id"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"KillShell",
                 "Kills a running background bash shell by its ID. Takes a shell_id parameter "
                 "identifying "
                 "the shell to kill. Returns a success or failure status. Use this tool when you "
                 "need to "
                 "terminate a long-running shell.",
                 R"J({"type":"object","properties":{"shell_id":{"type":"string","description":"The ID of the background shell to kill"}},"required":["shell_id"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"SlashCommand",
                 "Execute a slash command within the main conversation. When you use this tool, "
                 "the slash "
                 "command gets expanded to a full prompt that provides detailed instructions on "
                 "how to "
                 "complete the task. Only custom slash commands with descriptions are available.",
                 R"J({"type":"object","properties":{"command":{"type":"string","description":"The slash command to execute with its arguments, e.g., \"/review-pr 123\""}},"required":["command"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"mcp__git__status",
                 "Shows the working tree status of a git repository: staged, unstaged and "
                 "untracked files, "
                 "and the relation of the current branch to its upstream.",
                 R"J({"type":"object","properties":{"repo_path":{"type":"string","description":"Path to Git repository"}},"required":["repo_path"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"mcp__git__diff",
                 "Shows differences between branches, commits, the index and the working tree, "
                 "with an "
                 "optional number of context lines.",
                 R"J({"type":"object","properties":{"repo_path":{"type":"string","description":"Path to Git repository"},"target":{"type":"string","description":"Target branch or commit to compare with"},"context_lines":{"type":"integer","minimum":0,"maximum":100,"default":3,"description":"Number of context lines"},"staged":{"type":"boolean","default":false}},"required":["repo_path"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"mcp__git__log",
                 "Shows the commit logs of a git repository, newest first, optionally limited to a "
                 "number "
                 "of commits and filtered by author, path or date.",
                 R"J({"type":"object","properties":{"repo_path":{"type":"string"},"max_count":{"type":"integer","minimum":1,"maximum":1000,"default":10},"author":{"type":"string"},"since":{"type":"string","format":"date-time"},"paths":{"type":"array","items":{"type":"string"}}},"required":["repo_path"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"mcp__github__create_pull_request",
                 "Creates a new pull request in a GitHub repository from a head branch into a base "
                 "branch, "
                 "with a title, a markdown body, and optionally as a draft.",
                 R"J({"type":"object","properties":{"owner":{"type":"string","description":"Repository owner"},"repo":{"type":"string","description":"Repository name"},"title":{"type":"string","description":"PR title"},"body":{"type":"string","description":"PR description"},"head":{"type":"string","description":"Branch containing changes"},"base":{"type":"string","description":"Branch to merge into"},"draft":{"type":"boolean","description":"Create as draft PR"},"maintainer_can_modify":{"type":"boolean"},"labels":{"type":"array","items":{"type":"string"},"uniqueItems":true}},"required":["owner","repo","title","head","base"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"mcp__github__list_issues",
                 "Lists issues in a GitHub repository with filtering by state, labels, assignee "
                 "and sort "
                 "order, paginated.",
                 R"J({"type":"object","properties":{"owner":{"type":"string"},"repo":{"type":"string"},"state":{"type":"string","enum":["open","closed","all"]},"labels":{"type":"array","items":{"type":"string"}},"sort":{"type":"string","enum":["created","updated","comments"]},"direction":{"type":"string","enum":["asc","desc"]},"since":{"type":"string"},"page":{"type":"number","minimum":1},"per_page":{"type":"number","minimum":1,"maximum":100}},"required":["owner","repo"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"mcp__tests__run",
                 "Runs the project's test suite or a subset of it (by test name filter or by file) "
                 "and "
                 "returns a summary with the failures and their output.",
                 R"J({"type":"object","properties":{"filter":{"type":"string","description":"gtest filter, e.g. Pool*.*"},"files":{"type":"array","items":{"type":"string"}},"timeout_s":{"type":"integer","minimum":1,"maximum":3600},"env":{"type":"object","additionalProperties":{"type":"string"}},"coverage":{"type":"boolean","default":false}},"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"mcp__memory__create_entities",
                 "Create multiple new entities in the knowledge graph, each with a name, an entity "
                 "type and "
                 "a list of observations.",
                 R"J({"type":"object","properties":{"entities":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string","description":"The name of the entity"},"entityType":{"type":"string","description":"The type of the entity"},"observations":{"type":"array","items":{"type":"string"},"description":"An array of observation contents associated with the entity"}},"required":["name","entityType","observations"],"additionalProperties":false}}},"required":["entities"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
                {"mcp__browser__navigate",
                 "Navigate a headless browser to a URL and return the page title, the final URL "
                 "after "
                 "redirects, and an accessibility snapshot of the page.",
                 R"J({"type":"object","properties":{"url":{"type":"string","description":"The URL to navigate to"},"wait_until":{"type":"string","enum":["load","domcontentloaded","networkidle"],"default":"load"},"timeout_ms":{"type":"integer","minimum":0,"maximum":120000},"viewport":{"type":"object","properties":{"width":{"type":"integer","minimum":1},"height":{"type":"integer","minimum":1}},"required":["width","height"]}},"required":["url"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"})J"},
};
static_assert(sizeof(tool_defs) / sizeof(tool_defs[0]) == 24, "24 tool definitions");

// ---------------------------------------------------------------------------------------
// Source text for tool results (files read, command output), deterministic.

const char* const idents[] = {"pool",   "instance", "request", "upstream", "session",
                              "config", "deadline", "buffer",  "cursor",   "selection",
                              "health", "cooldown", "attempt", "stream",   "encoder"};
const char* const types[] = {
    "std::string",     "std::size_t",      "bool", "std::chrono::milliseconds", "pool_entry&",
    "const settings&", "std::string_view", "int"};

std::string code_file(lcg& r, std::size_t bytes) {
  std::string out;
  int line = 1;
  auto emit = [&](const std::string& s) {
    out += "     " + std::to_string(line++) + "\t" + s + "\n";
  };
  emit("#include \"aiclient/pool/pool_manager.hpp\"");
  emit("");
  emit("#include <algorithm>");
  emit("#include <mutex>");
  emit("");
  emit("namespace aiclient::pool {");
  while (out.size() < bytes) {
    const std::string a = idents[r.pick(15)], b = idents[r.pick(15)], t = types[r.pick(8)];
    switch (r.pick(6)) {
      case 0:
        emit("");
        emit("/// Returns the " + a + " of the " + b + " (\"" + a + "_" + b + "\"), or none.");
        emit(t + " " + a + "_of_" + b + "(const " + b + "_map& m, std::string_view key) {");
        emit("  auto it = m.find(key);");
        emit("  if (it == m.end()) return {};");
        emit("  return it->second." + a + "_;");
        emit("}");
        break;
      case 1:
        emit("  for (auto& " + a + " : " + b + "s_) {");
        emit("    if (!" + a + ".eligible(now, model)) continue;  // skip cooling down → next");
        emit("    best = pick_lru(best, &" + a + ");");
        emit("  }");
        break;
      case 2:
        emit("  spdlog::warn(\"" + a + " {} failed: {} (attempt {}/{})\", " + b +
             ".uuid, reason, attempt, max_attempts);");
        break;
      case 3:
        emit("  std::lock_guard lock(mutex_);");
        emit("  if (" + a + "_count_ >= settings_.max_error_count) {");
        emit("    " + b + ".healthy = false;\t// marked unhealthy");
        emit("    " + b + ".last_error = \"too many errors: \\\"" + a + "\\\"\";");
        emit("  }");
        break;
      case 4:
        emit("  const auto " + a + " = std::chrono::steady_clock::now() - " + b + "_start_;");
        break;
      default:
        emit("  // TODO(" + std::string(idents[r.pick(15)]) + "): résumé of the " + a +
             " state — keep in sync with docs/provider-pools.md");
        break;
    }
  }
  emit("}  // namespace aiclient::pool");
  return out;
}

std::string command_output(lcg& r, std::size_t bytes) {
  std::string out = "[==========] Running tests from 6 test suites.\n";
  while (out.size() < bytes) {
    const std::string a = idents[r.pick(15)], b = idents[r.pick(15)];
    out += "[ RUN      ] PoolManager." + a + "_" + b + "\n";
    if (r.pick(7) == 0) {
      out += "tests/unit/pool/pool_manager_test.cpp:" + std::to_string(100 + r.pick(400)) +
             ": Failure\nExpected equality of these values:\n  picked.uuid\n    Which is: \"" + a +
             "\"\n  \"" + b + "\"\n[  FAILED  ] PoolManager." + a + "_" + b + " (" +
             std::to_string(r.pick(20)) + " ms)\n";
    } else {
      out +=
          "[       OK ] PoolManager." + a + "_" + b + " (" + std::to_string(r.pick(5)) + " ms)\n";
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The conversation, independent of the wire shape.

struct tool_call {
  std::string id;
  std::string name;
  json input;
};

struct tool_result {
  std::string id;
  std::string content;
  bool is_error = false;
};

struct turn {
  enum kind_t { user_text, assistant, results } kind;
  std::string text;
  std::vector<tool_call> calls;
  std::vector<tool_result> res;
};

tool_call make_call(lcg& r, int n) {
  tool_call c;
  c.id = "toolu_01" + std::to_string(100000 + n) + "Xq" + std::to_string(r.pick(1000000));
  const std::string file = std::string("/home/dev/projects/gateway/src/") + idents[r.pick(15)] +
                           "/" + idents[r.pick(15)] + ".cpp";
  switch (r.pick(7)) {
    case 0:
      c.name = "Read";
      c.input = {{"file_path", file}};
      break;
    case 1:
      c.name = "Grep";
      c.input = {{"pattern", std::string(idents[r.pick(15)]) + "_count_\\s*>="},
                 {"path", "/home/dev/projects/gateway/src"},
                 {"output_mode", "content"},
                 {"-n", true},
                 {"-C", 2}};
      break;
    case 2:
      c.name = "Bash";
      c.input = {{"command",
                  "cmake --build build/release --target pool_tests && "
                  "build/release/pool_tests --gtest_filter='PoolManager.*'"},
                 {"description", "Build and run the pool tests"},
                 {"timeout", 300000}};
      break;
    case 3:
      c.name = "Edit";
      c.input = {
          {"file_path", file},
          {"old_string", std::string("    if (") + idents[r.pick(15)] +
                             "_count_ >= settings_.max_error_count) {\n      healthy = false;"},
          {"new_string", std::string("    if (") + idents[r.pick(15)] +
                             "_count_ >= settings_.max_error_count) {\n      healthy = false;\n"
                             "      last_error_time = now;"},
          {"replace_all", false}};
      break;
    case 4:
      c.name = "TodoWrite";
      c.input = {{"todos", json::array({{{"content", "Reproduce the failover bug"},
                                         {"status", "completed"},
                                         {"activeForm", "Reproducing the failover bug"}},
                                        {{"content", "Fix the LRU tiebreak"},
                                         {"status", "in_progress"},
                                         {"activeForm", "Fixing the LRU tiebreak"}},
                                        {{"content", "Run the pool tests"},
                                         {"status", "pending"},
                                         {"activeForm", "Running the pool tests"}}})}};
      break;
    case 5:
      c.name = "Glob";
      c.input = {{"pattern", "src/**/*.cpp"}, {"path", "/home/dev/projects/gateway"}};
      break;
    default:
      c.name = "mcp__git__diff";
      c.input = {
          {"repo_path", "/home/dev/projects/gateway"}, {"context_lines", 3}, {"staged", false}};
      break;
  }
  return c;
}

std::string result_for(lcg& r, const tool_call& c) {
  if (c.name == "Read") return code_file(r, 2200 + r.pick(2600));
  if (c.name == "Bash") return command_output(r, 900 + r.pick(1200));
  if (c.name == "Grep") return code_file(r, 500 + r.pick(700));
  if (c.name == "mcp__git__diff")
    return "diff --git a/src/pool/pool_manager.cpp b/src/pool/pool_manager.cpp\n--- "
           "a/src/pool/pool_manager.cpp\n+++ b/src/pool/pool_manager.cpp\n@@ -120,7 +120,8 @@\n" +
           code_file(r, 700 + r.pick(900));
  if (c.name == "Glob") {
    std::string s;
    for (int i = 0; i < 25; ++i)
      s += std::string("/home/dev/projects/gateway/src/") + idents[r.pick(15)] + "/" +
           idents[r.pick(15)] + ".cpp\n";
    return s;
  }
  if (c.name == "TodoWrite")
    return "Todos have been modified successfully. Ensure that you continue to use the todo list "
           "to track your progress. Please proceed with the current tasks if applicable";
  return "The file " + c.input.value("file_path", std::string("?")) +
         " has been updated. Here's the result of running `cat -n` on a snippet of the edited "
         "file:\n" +
         code_file(r, 400 + r.pick(300));
}

const char* const assistant_texts[] = {
    "I'll look at how the pool manager picks instances first.",
    "The failure comes from the tiebreak: two instances with the same `lastUsed` are ordered by "
    "their position, so the recovered one never goes first. Let me check the tests.",
    "",
    "Let me run the pool tests to see which ones fail now.",
    "Found it — `errorCount` is reset before the outcome is recorded. I'll fix the order.",
    "",
    "Now I'll update the todo list and verify the build.",
};

const char* const user_texts[] = {
    "The gateway keeps sending requests to an instance that was just marked unhealthy. Can you "
    "find out why and fix it? The pool tests are in tests/unit/pool.",
    "Also make sure that a 429 with Retry-After puts the instance in cooldown instead of "
    "counting an error. Don't change the file format.",
    "Looks good. Please run the whole pool test suite again and tell me what still fails.",
    "Can you also check the handler: a stream that breaks after the first byte must be counted "
    "as a failure (see docs/provider-pools.md, \"Outcomes\").",
};

std::vector<turn> conversation(
    std::size_t target, const std::function<std::size_t(const std::vector<turn>&)>& size_of) {
  lcg r{20251126};
  std::vector<turn> turns;
  turns.push_back({turn::user_text, user_texts[0], {}, {}});
  int n = 0;
  std::size_t ut = 1;
  for (;;) {
    turn a{turn::assistant, assistant_texts[r.pick(7)], {}, {}};
    const std::size_t calls = 1 + (r.pick(3) == 0 ? 1 + r.pick(2) : 0);  // some parallel calls
    for (std::size_t i = 0; i < calls; ++i) a.calls.push_back(make_call(r, n++));
    turn u{turn::results, {}, {}, {}};
    for (const auto& c : a.calls) u.res.push_back({c.id, result_for(r, c), r.pick(15) == 0});
    std::vector<turn> trial = turns;
    trial.push_back(a);
    trial.push_back(u);
    if (size_of(trial) + 600 > target) break;
    turns = std::move(trial);
    if (r.pick(5) == 0) {
      // The user speaks again: an assistant text answer, then a user message.
      turns.push_back({turn::assistant, "Done: the tests pass now. Anything else?", {}, {}});
      turns.push_back({turn::user_text, user_texts[ut++ % 4], {}, {}});
    }
  }
  // Pad with a final user message to land on the target size.
  if (turns.back().kind != turn::results) turns.push_back({turn::assistant, "OK.", {}, {}});
  turns.push_back({turn::user_text, "", {}, {}});
  const std::size_t base = size_of(turns);
  std::string pad = "Thanks. One more thing: summarise the changes for the commit message. ";
  std::string text;
  while (base + text.size() < target) text += pad;
  text.resize(target > base ? target - base : 0);
  turns.back().text = text;
  return turns;
}

std::string system_prompt() {
  std::string s;
  for (const char* p : system_paragraphs) {
    if (!s.empty()) s += "\n\n";
    s += p;
  }
  return s;
}

json anthropic_body(const std::vector<turn>& turns, bool stream) {
  json tools = json::array();
  for (const auto& t : tool_defs)
    tools.push_back({{"name", t.name},
                     {"description", t.description},
                     {"input_schema", json::parse(t.schema)}});
  tools.back()["cache_control"] = {{"type", "ephemeral"}};
  json msgs = json::array();
  for (const auto& t : turns) {
    if (t.kind == turn::user_text) {
      msgs.push_back(
          {{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", t.text}}})}});
    } else if (t.kind == turn::assistant) {
      json content = json::array();
      if (!t.text.empty()) content.push_back({{"type", "text"}, {"text", t.text}});
      for (const auto& c : t.calls)
        content.push_back(
            {{"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", c.input}});
      msgs.push_back({{"role", "assistant"}, {"content", content}});
    } else {
      json content = json::array();
      for (const auto& x : t.res) {
        json b = {{"type", "tool_result"}, {"tool_use_id", x.id}, {"content", x.content}};
        if (x.is_error) b["is_error"] = true;
        content.push_back(b);
      }
      msgs.push_back({{"role", "user"}, {"content", content}});
    }
  }
  msgs.back()["content"].back()["cache_control"] = {{"type", "ephemeral"}};
  json body = {{"model", "claude-sonnet-4-5-20250929"},
               {"max_tokens", 32000},
               {"system",
                json::array({{{"type", "text"},
                              {"text", "You are Claude Code, Anthropic's official CLI for Claude."},
                              {"cache_control", {{"type", "ephemeral"}}}},
                             {{"type", "text"},
                              {"text", system_prompt()},
                              {"cache_control", {{"type", "ephemeral"}}}}})},
               {"messages", msgs},
               {"tools", tools},
               {"metadata", {{"user_id", "user_5f2c9a_account_8d41_session_0b7e2f11"}}},
               {"temperature", 1}};
  if (stream) body["stream"] = true;
  return body;
}

json openai_body(const std::vector<turn>& turns, bool stream) {
  json tools = json::array();
  for (const auto& t : tool_defs)
    tools.push_back({{"type", "function"},
                     {"function",
                      {{"name", t.name},
                       {"description", t.description},
                       {"parameters", json::parse(t.schema)}}}});
  json msgs = json::array();
  msgs.push_back({{"role", "system"},
                  {"content", "You are Claude Code, Anthropic's official CLI for Claude.\n\n" +
                                  system_prompt()}});
  for (const auto& t : turns) {
    if (t.kind == turn::user_text) {
      msgs.push_back({{"role", "user"}, {"content", t.text}});
    } else if (t.kind == turn::assistant) {
      json m = {{"role", "assistant"}, {"content", t.text.empty() ? json(nullptr) : json(t.text)}};
      if (!t.calls.empty()) {
        json calls = json::array();
        for (const auto& c : t.calls)
          calls.push_back({{"id", c.id},
                           {"type", "function"},
                           {"function", {{"name", c.name}, {"arguments", c.input.dump()}}}});
        m["tool_calls"] = calls;
      }
      msgs.push_back(m);
    } else {
      for (const auto& x : t.res)
        msgs.push_back({{"role", "tool"}, {"tool_call_id", x.id}, {"content", x.content}});
    }
  }
  json body = {{"model", "gpt-4.1"},    {"messages", msgs},    {"tools", tools},
               {"tool_choice", "auto"}, {"max_tokens", 32000}, {"temperature", 1},
               {"user", "user_5f2c9a"}};
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

const char* const stream_words[] = {"The ",       "pool ",     "manager ", "now ",    "records ",
                                    "the ",       "outcome ",  "before ",  "it ",     "resets ",
                                    "the ",       "error ",    "count, ",  "so ",     "a ",
                                    "recovered ", "instance ", "goes ",    "first. ", "Done.\n"};

std::string sse(const json& j) {
  return "data: " + dump(j) + "\n\n";
}
std::string sse(const char* event, const json& j) {
  return std::string("event: ") + event + "\ndata: " + dump(j) + "\n\n";
}

json openai_chunk(const json& delta, const json& finish) {
  return {
      {"id", "chatcmpl-bench0001"},
      {"object", "chat.completion.chunk"},
      {"created", 1764150000},
      {"model", "gpt-4.1-2025-04-14"},
      {"system_fingerprint", "fp_bench"},
      {"choices",
       json::array(
           {{{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", finish}}})}};
}

}  // namespace

std::string small_request(shape s, bool stream) {
  json body;
  if (s == shape::openai) {
    body = {{"model", "gpt-4.1"},
            {"messages",
             json::array({{{"role", "system"}, {"content", "You are a helpful assistant."}},
                          {{"role", "user"}, {"content", "Write a haiku about a fast gateway."}}})},
            {"max_tokens", 256}};
    if (stream) {
      body["stream"] = true;
      body["stream_options"] = {{"include_usage", true}};
    }
  } else {
    body = {
        {"model", "claude-sonnet-4-5-20250929"},
        {"max_tokens", 256},
        {"system", "You are a helpful assistant."},
        {"messages",
         json::array({{{"role", "user"}, {"content", "Write a haiku about a fast gateway."}}})}};
    if (stream) body["stream"] = true;
  }
  return dump(body);
}

std::string coding_agent_request(shape s, bool stream, std::size_t target_bytes) {
  auto size_of = [&](const std::vector<turn>& t) { return dump(anthropic_body(t, stream)).size(); };
  const auto turns = conversation(target_bytes, size_of);
  return dump(s == shape::anthropic ? anthropic_body(turns, stream) : openai_body(turns, stream));
}

std::string openai_completion() {
  auto make = [](const std::string& text) {
    json j = {{"id", "chatcmpl-bench0001"},
              {"object", "chat.completion"},
              {"created", 1764150000},
              {"model", "gpt-4.1-2025-04-14"},
              {"choices", json::array({{{"index", 0},
                                        {"message",
                                         {{"role", "assistant"},
                                          {"content", text},
                                          {"refusal", nullptr},
                                          {"annotations", json::array()}}},
                                        {"logprobs", nullptr},
                                        {"finish_reason", "stop"}}})},
              {"usage",
               {{"prompt_tokens", 25},
                {"completion_tokens", 17},
                {"total_tokens", 42},
                {"prompt_tokens_details", {{"cached_tokens", 0}, {"audio_tokens", 0}}},
                {"completion_tokens_details",
                 {{"reasoning_tokens", 0},
                  {"audio_tokens", 0},
                  {"accepted_prediction_tokens", 0},
                  {"rejected_prediction_tokens", 0}}}}},
              {"system_fingerprint", "fp_bench"}};
    return dump(j);
  };
  std::string text =
      "Packets rush through light,\nthe gateway barely whispers,\ntokens reach the shore.";
  std::string body = make(text);
  if (body.size() > 624) throw std::logic_error("624-byte completion: base too large");
  while (body.size() < 624) {
    text += ' ';
    body = make(text);
  }
  return body;
}

std::string anthropic_message() {
  json j = {{"id", "msg_01BenchXq7Zt3"},
            {"type", "message"},
            {"role", "assistant"},
            {"model", "claude-sonnet-4-5-20250929"},
            {"content", json::array({{{"type", "text"},
                                      {"text",
                                       "Packets rush through light,\nthe gateway barely "
                                       "whispers,\ntokens reach the shore."}}})},
            {"stop_reason", "end_turn"},
            {"stop_sequence", nullptr},
            {"usage",
             {{"input_tokens", 25},
              {"cache_creation_input_tokens", 0},
              {"cache_read_input_tokens", 0},
              {"output_tokens", 17},
              {"service_tier", "standard"}}}};
  return dump(j);
}

std::string openai_tool_completion() {
  lcg r{7};
  json calls = json::array();
  for (int i = 0; i < 3; ++i) {
    auto c = make_call(r, 900 + i);
    calls.push_back({{"id", "call_" + std::to_string(i) + "Bench"},
                     {"type", "function"},
                     {"function", {{"name", c.name}, {"arguments", c.input.dump()}}}});
  }
  json j = {
      {"id", "chatcmpl-bench0002"},
      {"object", "chat.completion"},
      {"created", 1764150000},
      {"model", "gpt-4.1-2025-04-14"},
      {"choices",
       json::array(
           {{{"index", 0},
             {"message",
              {{"role", "assistant"},
               {"content", "I'll read the pool manager, run the tests and update the todo list."},
               {"tool_calls", calls}}},
             {"finish_reason", "tool_calls"}}})},
      {"usage",
       {{"prompt_tokens", 28150},
        {"completion_tokens", 312},
        {"total_tokens", 28462},
        {"prompt_tokens_details", {{"cached_tokens", 27904}}}}}};
  return dump(j);
}

std::string anthropic_tool_message() {
  lcg r{7};
  json content = json::array(
      {{{"type", "text"},
        {"text", "I'll read the pool manager, run the tests and update the todo list."}}});
  for (int i = 0; i < 3; ++i) {
    auto c = make_call(r, 900 + i);
    content.push_back({{"type", "tool_use"},
                       {"id", "toolu_0" + std::to_string(i) + "Bench"},
                       {"name", c.name},
                       {"input", c.input}});
  }
  json j = {{"id", "msg_01BenchXq7Zt4"},
            {"type", "message"},
            {"role", "assistant"},
            {"model", "claude-sonnet-4-5-20250929"},
            {"content", content},
            {"stop_reason", "tool_use"},
            {"stop_sequence", nullptr},
            {"usage",
             {{"input_tokens", 246},
              {"cache_creation_input_tokens", 0},
              {"cache_read_input_tokens", 27904},
              {"output_tokens", 312}}}};
  return dump(j);
}

std::vector<std::string> openai_stream_events(int content_chunks) {
  std::vector<std::string> ev;
  ev.push_back(openai_stream_head());
  for (int i = 0; i < content_chunks; ++i)
    ev.push_back(openai_stream_content(stream_words[i % 20]));
  ev.push_back(openai_stream_tail());
  return ev;
}

std::vector<std::string> anthropic_stream_events(int content_chunks) {
  std::vector<std::string> ev;
  ev.push_back(anthropic_stream_head());
  for (int i = 0; i < content_chunks; ++i)
    ev.push_back(anthropic_stream_content(stream_words[i % 20]));
  ev.push_back(anthropic_stream_tail());
  return ev;
}

std::string openai_stream_head() {
  return sse(openai_chunk({{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}, nullptr));
}
std::string openai_stream_content(const std::string& text) {
  return sse(openai_chunk({{"content", text}}, nullptr));
}
std::string openai_stream_tail() {
  json usage_chunk = openai_chunk(json::object(), "stop");
  std::string s = sse(usage_chunk);
  json u = {{"id", "chatcmpl-bench0001"},
            {"object", "chat.completion.chunk"},
            {"created", 1764150000},
            {"model", "gpt-4.1-2025-04-14"},
            {"choices", json::array()},
            {"usage", {{"prompt_tokens", 25}, {"completion_tokens", 20}, {"total_tokens", 45}}}};
  s += sse(u);
  s += "data: [DONE]\n\n";
  return s;
}

std::string anthropic_stream_head() {
  json start = {{"type", "message_start"},
                {"message",
                 {{"id", "msg_01BenchXq7Zt3"},
                  {"type", "message"},
                  {"role", "assistant"},
                  {"model", "claude-sonnet-4-5-20250929"},
                  {"content", json::array()},
                  {"stop_reason", nullptr},
                  {"stop_sequence", nullptr},
                  {"usage",
                   {{"input_tokens", 25},
                    {"cache_creation_input_tokens", 0},
                    {"cache_read_input_tokens", 0},
                    {"output_tokens", 1}}}}}};
  json block = {{"type", "content_block_start"},
                {"index", 0},
                {"content_block", {{"type", "text"}, {"text", ""}}}};
  return sse("message_start", start) + sse("content_block_start", block);
}
std::string anthropic_stream_content(const std::string& text) {
  return sse("content_block_delta", {{"type", "content_block_delta"},
                                     {"index", 0},
                                     {"delta", {{"type", "text_delta"}, {"text", text}}}});
}
std::string anthropic_stream_tail() {
  return sse("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}}) +
         sse("message_delta", {{"type", "message_delta"},
                               {"delta", {{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}}},
                               {"usage", {{"output_tokens", 20}}}}) +
         sse("message_stop", {{"type", "message_stop"}});
}

std::string openai_long_stream(std::size_t target_bytes) {
  std::string s = openai_stream_head();
  int i = 0;
  while (s.size() < target_bytes / 2) s += openai_stream_content(stream_words[i++ % 20]);
  // A tool call whose arguments arrive in small deltas.
  s += sse(openai_chunk(
      {{"tool_calls", json::array({{{"index", 0},
                                    {"id", "call_0Bench"},
                                    {"type", "function"},
                                    {"function", {{"name", "Write"}, {"arguments", ""}}}}})}},
      nullptr));
  s += sse(openai_chunk(
      {{"tool_calls",
        json::array(
            {{{"index", 0},
              {"function", {{"arguments", "{\"file_path\":\"/tmp/x.cpp\",\"content\":\""}}}}})}},
      nullptr));
  lcg r{3};
  while (s.size() < target_bytes) {
    std::string piece = std::string(idents[r.pick(15)]) + "_" + idents[r.pick(15)] + "();\\n";
    s += sse(openai_chunk(
        {{"tool_calls", json::array({{{"index", 0}, {"function", {{"arguments", piece}}}}})}},
        nullptr));
  }
  s += sse(openai_chunk(
      {{"tool_calls", json::array({{{"index", 0}, {"function", {{"arguments", "\"}"}}}}})}},
      nullptr));
  s += sse(openai_chunk(json::object(), "tool_calls"));
  s += "data: [DONE]\n\n";
  return s;
}

std::string anthropic_long_stream(std::size_t target_bytes) {
  std::string s = anthropic_stream_head();
  int i = 0;
  while (s.size() < target_bytes / 2) s += anthropic_stream_content(stream_words[i++ % 20]);
  s += sse("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}});
  s += sse("content_block_start", {{"type", "content_block_start"},
                                   {"index", 1},
                                   {"content_block",
                                    {{"type", "tool_use"},
                                     {"id", "toolu_0Bench"},
                                     {"name", "Write"},
                                     {"input", json::object()}}}});
  s += sse("content_block_delta",
           {{"type", "content_block_delta"},
            {"index", 1},
            {"delta",
             {{"type", "input_json_delta"},
              {"partial_json", "{\"file_path\":\"/tmp/x.cpp\",\"content\":\""}}}});
  lcg r{3};
  while (s.size() < target_bytes) {
    std::string piece = std::string(idents[r.pick(15)]) + "_" + idents[r.pick(15)] + "();\\n";
    s += sse("content_block_delta",
             {{"type", "content_block_delta"},
              {"index", 1},
              {"delta", {{"type", "input_json_delta"}, {"partial_json", piece}}}});
  }
  s += sse("content_block_delta",
           {{"type", "content_block_delta"},
            {"index", 1},
            {"delta", {{"type", "input_json_delta"}, {"partial_json", "\"}"}}}});
  s += sse("content_block_stop", {{"type", "content_block_stop"}, {"index", 1}});
  s += sse("message_delta", {{"type", "message_delta"},
                             {"delta", {{"stop_reason", "tool_use"}, {"stop_sequence", nullptr}}},
                             {"usage", {{"output_tokens", 2048}}}});
  s += sse("message_stop", {{"type", "message_stop"}});
  return s;
}

}  // namespace bench
