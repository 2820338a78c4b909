-- Trust: no leaked secret (issue 13, items 14, 17 and 19).
--
-- 14. Hostile URL and config forms, each run through every command that
--     can print (and the embedding API), asserting that no part of the
--     password ever appears: not in stdout, stderr, --json, error values,
--     log callbacks or the log table. What the password is comes from two
--     sides: the form's construction (what its writer meant) and libpq's
--     own PQconninfoParse (a small C oracle compiled here, independent of
--     luamig), since a hand-made reading is what the defect was.
-- 17. An empty URL (--url "", DATABASE_URL="", url = "") is an error, not a
--     reason to fall back to another database.
-- 19. --json output is valid JSON whatever bytes a message holds.
local core = require "luamig.core"
local luamig = require "luamig"
local h = require "spec.helpers"

local revs = {
  {id = "s1", message = "create items", up = "CREATE TABLE items (id INTEGER PRIMARY KEY)",
   down_sql = "DROP TABLE items"},
  {id = "s2", down = "s1", message = "add notes", up = "CREATE TABLE notes (id INTEGER)",
   down_sql = "DROP TABLE notes"},
}

---------------------------------------------------------------------------
-- The oracle: libpq's PQconninfoParse, from a ten-line C program.

local oracle_bin
local function oracle()
  if oracle_bin then return oracle_bin end
  local dir = h.tmpdir()
  h.write_file(dir .. "/oracle.c", [[
#include <stdio.h>
#include <libpq-fe.h>
/* Prints each password-like value ("*" display character) libpq reads in
 * argv[1], one per line, or "ERROR" when libpq cannot parse it. */
int main(int argc, char **argv) {
  char *err = NULL;
  PQconninfoOption *o = argc > 1 ? PQconninfoParse(argv[1], &err) : NULL;
  if (o == NULL) { puts("ERROR"); return 0; }
  for (PQconninfoOption *p = o; p->keyword; p++)
    if (p->val && p->dispchar[0] == '*') printf("%s\n", p->val);
  PQconninfoFree(o);
  return 0;
}
]])
  local status, _, err = h.run(("cd %s && cc oracle.c -o oracle $(pkg-config --cflags --libs libpq)")
    :format(h.shell_quote(dir)))
  assert(status == 0, "cannot build the PQconninfoParse oracle: " .. err)
  oracle_bin = dir .. "/oracle"
  return oracle_bin
end

-- The passwords libpq reads in text (a luamig URL: +driver dropped), or nil
-- when libpq cannot parse it.
local function libpq_passwords(text)
  local target = text:gsub("^postgres[%w]*%+[%w]+://", "postgresql://"):gsub("^postgres://", "postgresql://")
  local _, out = h.run(h.shell_quote(oracle()) .. " " .. h.shell_quote(target))
  if out == "ERROR\n" then return nil end
  return h.lines(out)
end

-- The first window of `width` bytes of a secret that text shows, or nil.
local function leak(text, secret, width)
  width = math.min(width or 5, #secret)
  for i = 1, #secret - width + 1 do
    local w = secret:sub(i, i + width - 1)
    if text:find(w, 1, true) then return w end
  end
end

local function assert_no_leak(text, secrets, what)
  for _, s in ipairs(secrets) do
    local w = leak(text, s.text, s.width)
    assert(w == nil, ("%s shows %q of the secret %q:\n%s"):format(what, tostring(w), s.text, text))
  end
end

-- Valid JSON per an independent parser (Python's).
local function assert_json(text, what)
  local f = os.tmpname()
  h.write_file(f, text)
  local status, _, err = h.run("python3 -c 'import json,sys; json.load(open(sys.argv[1], encoding=\"utf-8\"))' "
    .. h.shell_quote(f))
  os.remove(f)
  assert(status == 0, ("%s is not valid JSON (%s):\n%s"):format(what, err, text))
end

---------------------------------------------------------------------------
-- The hostile forms.

local function forms()
  local host, port = h.pg_tcp()
  local user = h.pg_password_user
  local hp = host .. ":" .. port
  local function url(pw, rest) return ("postgresql://%s:%s@%s%s"):format(user, pw, hp, rest or "/postgres") end
  local list = {
    -- {name, text, {secrets (as meant)}, kind = "url" (default) | "config_text"}
    {"plain wrong password", url("Wolf7Kite8Moth9"), {"Wolf7Kite8Moth9"}},
    {"'#' in the password", url("Wolf7#Kite8Moth9"), {"Wolf7#Kite8Moth9"}},
    {"'?' in the password", url("Wolf7?Kite8Moth9"), {"Wolf7?Kite8Moth9"}},
    {"'#' and '?' in the password", url("Wolf7#Kite8?Moth9"), {"Wolf7#Kite8?Moth9"}},
    {"an unencoded '@' in the password", url("Wolf7@Kite8Moth9"), {"Wolf7@Kite8Moth9"}},
    {"an unencoded '/' in the password", url("Wolf7/Kite8Moth9"), {"Wolf7/Kite8Moth9"}},
    {"an unencoded ':' in the password", url("Wolf7:Kite8Moth9"), {"Wolf7:Kite8Moth9"}},
    {"'/' and '@' unencoded", url("Wolf7/Kite8@Moth9"), {"Wolf7/Kite8@Moth9"}},
    {"a space in the password", url("Wolf7 Kite8Moth9"), {"Wolf7 Kite8Moth9"}},
    {"quotes and a backslash", url("Wolf7\"Kite8'Moth9\\Lynx0"), {"Wolf7\"Kite8'Moth9\\Lynx0"}},
    {"a non-ASCII password", url("W\xc3\xb6lf7Kite8Moth9"), {"W\xc3\xb6lf7Kite8Moth9"}},
    {"percent-encoded specials", url("Wolf7%23Kite8%40Moth9%2F"), {"Wolf7#Kite8@Moth9/"}},
    {"typo postgresql:/", ("postgresql:/%s:Wolf7Kite8Moth9@%s/postgres"):format(user, hp), {"Wolf7Kite8Moth9"}},
    {"typo postgresql//", ("postgresql//%s:Wolf7Kite8Moth9@%s/postgres"):format(user, hp), {"Wolf7Kite8Moth9"}},
    {"typo in the scheme", ("postgresq://%s:Wolf7Kite8Moth9@%s/postgres"):format(user, hp), {"Wolf7Kite8Moth9"}},
    {"no scheme", ("%s:Wolf7Kite8Moth9@%s/postgres"):format(user, hp), {"Wolf7Kite8Moth9"}},
    {"postgres:// scheme", ("postgres://%s:Wolf7Kite8Moth9@%s/postgres"):format(user, hp), {"Wolf7Kite8Moth9"}},
    {"a +driver scheme", ("postgresql+psycopg2://%s:Wolf7Kite8Moth9@%s/postgres"):format(user, hp), {"Wolf7Kite8Moth9"}},
    {"a libpq keyword string", ("host=%s port=%s user=%s password=Wolf7Kite8Moth9 dbname=postgres"):format(host, port, user),
     {"Wolf7Kite8Moth9"}},
    {"a keyword string, quoted value", ("host=%s port=%s password='Wolf7 Kite8\\'Moth9' dbname=postgres"):format(host, port),
     {"Wolf7 Kite8'Moth9"}},
    {"?password=", ("postgresql://%s@%s/postgres?password=Wolf7Kite8Moth9"):format(user, hp), {"Wolf7Kite8Moth9"}},
    {"?pass%77ord=", ("postgresql://%s@%s/postgres?pass%%77ord=Wolf7Kite8Moth9"):format(user, hp), {"Wolf7Kite8Moth9"}},
    {"two &password=", ("postgresql://%s@%s/postgres?password=Wolf7Kite8Moth9&password=Lynx0Hare1Crow2"):format(user, hp),
     {"Wolf7Kite8Moth9", "Lynx0Hare1Crow2"}},
    {"userinfo and a second &password=", url("Wolf7Kite8Moth9", "/postgres?connect_timeout=5&password=Lynx0Hare1Crow2"),
     {"Wolf7Kite8Moth9", "Lynx0Hare1Crow2"}},
    {"a percent-encoded password parameter", ("postgresql://%s@%s/postgres?password=Wolf7%%23Kite8%%3FMoth9"):format(user, hp),
     {"Wolf7#Kite8?Moth9"}},
    {"sslpassword", url("Wolf7Kite8Moth9", "/postgres?sslmode=disable&sslpassword=Lynx0Hare1Crow2"),
     {"Wolf7Kite8Moth9", "Lynx0Hare1Crow2"}},
    {"a bad percent-encoding", url("Wolf7%zzKite8Moth9"), {"Wolf7%zzKite8Moth9"}},
    {"a %00 in the password", url("Wolf7%00Kite8Moth9"), {"Wolf7", "Kite8Moth9"}},
    {"an unknown parameter", url("Wolf7Kite8Moth9", "/postgres?nosuchparam=1"), {"Wolf7Kite8Moth9"}},
    {"a parameter without '='", ("postgresql://%s@%s/postgres?Wolf7Kite8Moth9"):format(user, hp), {"Wolf7Kite8Moth9"}},
    {"a bad port", ("postgresql://%s:Wolf7Kite8Moth9@%s:notaport/postgres"):format(user, host), {"Wolf7Kite8Moth9"}},
    {"an unterminated IPv6 host", ("postgresql://%s:Wolf7Kite8Moth9@[::1/postgres"):format(user), {"Wolf7Kite8Moth9"}},
    {"several hosts, the first unreachable", ("postgresql://%s:Wolf7Kite8Moth9@127.0.0.1:1,%s/postgres"):format(user, hp),
     {"Wolf7Kite8Moth9"}},
    {"an unreachable server", "postgresql://u:Wolf7Kite8Moth9@127.0.0.1:1/postgres?connect_timeout=2", {"Wolf7Kite8Moth9"}},
    {"a socket directory that does not exist", ("postgresql://%s:Wolf7Kite8Moth9@/postgres?host=/nonexistent&port=%s")
      :format(user, port), {"Wolf7Kite8Moth9"}},
    {"sqlite with a userinfo", "sqlite://u:Wolf7Kite8Moth9@h/app.db", {"Wolf7Kite8Moth9"}},
    {"config: an unterminated url string", ('url = "%s\n'):format(url("Wolf7Kite8Moth9")), {"Wolf7Kite8Moth9"},
     kind = "config_text", broken = true},
    {"config: an unterminated long string", ("url = [[%s\n"):format(url("Wolf7Kite8Moth9")), {"Wolf7Kite8Moth9"},
     kind = "config_text", broken = true},
    {"config: a string token where a name belongs", ('url = "x" "%s"\n'):format(url("Wolf7Kite8Moth9")),
     {"Wolf7Kite8Moth9"}, kind = "config_text", broken = true},
    {"config: an error quoting the url", ('url = "%s"\nerror("bad url: " .. url)\n'):format(url("Wolf7Kite8Moth9")),
     {"Wolf7Kite8Moth9"}, kind = "config_text", broken = true},
    {"config: a url with '#' and '?'", ('url = [[%s]]\n'):format(url("Wolf7#Kite8?Moth9")), {"Wolf7#Kite8?Moth9"},
     kind = "config_text"},
  }
  for _, f in ipairs(list) do
    local secrets = {}
    for i, s in ipairs(f[3]) do secrets[i] = {text = s} end
    if (f.kind or "url") == "url" and not f[2]:match("^sqlite") then
      for _, pw in ipairs(libpq_passwords(f[2]) or {}) do  -- libpq's reading too
        if #pw >= 4 then secrets[#secrets + 1] = {text = pw, width = math.min(5, #pw)} end
      end
    end
    f.secrets = secrets
  end
  return list
end

-- Every command that can print, as arguments after the URL's delivery.
local commands = {
  "current", "current -v", "--json current", "history -i", "--json history -i", "history -v",
  "upgrade head", "upgrade head --sql", "upgrade head --plan", "--json upgrade head --plan",
  "downgrade base", "stamp head", "verify", "--json verify", "check", "--json check",
  "heads", "show s1", "ensure_version",
}

local function check_run(what, status, out, err, secrets)
  assert(status == 0 or status == 1, ("%s: exit %s\n%s%s"):format(what, tostring(status), out, err))
  if status == 1 then assert(err:find("FAILED: ", 1, true), what .. ": no FAILED line: " .. err) end
  assert_no_leak(out .. err, secrets, what)
  if what:find("--json", 1, true) and status == 0 then assert_json(out, what) end
  -- the Database line (its URL masked; checked for leaks above) is there
  -- whenever the command connected, and --sql says the database kind instead
  if status == 0 then
    local offline = what:find("--sql", 1, true)
    local connects = not offline and not what:find("heads$") and not what:find("show s1$")
      and not what:find("history %-v$")
    if connects then
      assert(err:find("INFO  [luamig] Database: postgresql", 1, true), what .. ": no Database line: " .. err)
    end
    if offline then
      assert(err:find("INFO  [luamig] Generating SQL for PostgreSQL", 1, true), what .. ": no Generating line: " .. err)
    end
  end
end

describe("[postgresql] 14. no password is shown, whatever the form of the URL or config", function()
  it("each hostile form, through every printing command, the environment, the config and roundtrip", function()
    h.ensure_pg_password_user()
    local list = forms()
    assert.truthy(#list >= 30)
    local runs = 0
    for _, f in ipairs(list) do
      local dir = h.project(revs)
      if f.kind == "config_text" then
        h.write_file(dir .. "/luamig.lua", f[2])
        for _, cmd in ipairs(commands) do
          local status, out, err = h.luamig(dir, cmd)
          check_run(f[1] .. ": " .. cmd, status, out, err, f.secrets)
          if f.broken then assert.equal(1, status) end  -- a config that does not run stops every command
          runs = runs + 1
        end
      else
        for _, cmd in ipairs(commands) do
          local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(f[2]) .. " " .. cmd)
          check_run(f[1] .. ": --url, " .. cmd, status, out, err, f.secrets)
          runs = runs + 1
        end
        for _, cmd in ipairs{"current -v", "--json current"} do
          local status, out, err = h.luamig(dir, cmd, {DATABASE_URL = f[2]})
          check_run(f[1] .. ": DATABASE_URL, " .. cmd, status, out, err, f.secrets)
          h.write_file(dir .. "/luamig.lua", ("url = %q\n"):format(f[2]))
          status, out, err = h.luamig(dir, cmd)
          check_run(f[1] .. ": luamig.lua url, " .. cmd, status, out, err, f.secrets)
          os.remove(dir .. "/luamig.lua")
          runs = runs + 2
        end
        -- a project of the scratch URL's kind (another kind is refused before connecting)
        local okp, parsed = pcall(core.parse_url, f[2])
        local project = okp and parsed.dialect == "postgresql" and select(2, h.fresh_pg()) or "sqlite:rt.db"
        for _, json in ipairs{"", "--json "} do
          local status, out, err = h.luamig(dir, ("--url %s %sroundtrip --scratch-url %s")
            :format(h.shell_quote(project), json, h.shell_quote(f[2])))
          check_run(f[1] .. ": " .. json .. "roundtrip --scratch-url", status, out, err, f.secrets)
          assert.equal(1, status)                     -- no such scratch database can be used
          runs = runs + 1
        end
        -- a stray URL where a command belongs is quoted in the usage error
        local status, out, err = h.luamig(dir, h.shell_quote(f[2]) .. " current")
        assert.equal(2, status)
        assert_no_leak(out .. err, f.secrets, f[1] .. ": as a command")
      end
    end
    assert.truthy(runs >= 30 * #commands)
  end)

  it("each hostile form through the embedding API: error values and log lines", function()
    h.ensure_pg_password_user()
    for _, f in ipairs(forms()) do
      local dir = h.project(revs)
      local logs = {}
      local opts = {script_location = dir .. "/migrations", log = function(_, m) logs[#logs + 1] = m end}
      if f.kind == "config_text" then
        h.write_file(dir .. "/luamig.lua", f[2])
        opts.config = dir .. "/luamig.lua"
      else
        opts.url = f[2]
      end
      local ok, m = pcall(luamig.open, opts)
      local errors = {}
      if not ok then
        errors[1] = m
      else
        for _, call in ipairs{function() return m:current() end, function() return m:upgrade("head") end,
                              function() return m:stamp("head") end, function() return m:verify() end,
                              function() return m:display_url() end, function() return m:downgrade("base") end,
                              function() return m:roundtrip{scratch_url = f[2]} end} do
          local okc, err = pcall(call)
          if not okc then errors[#errors + 1] = err end
        end
        m:close()
      end
      assert.truthy(#errors > 0, f[1] .. ": no call failed")
      for _, err in ipairs(errors) do
        local text = tostring(err)
        if type(err) == "table" then
          for _, k in ipairs{"message", "sql", "error", "where"} do text = text .. "\n" .. tostring(rawget(err, k)) end
        end
        assert_no_leak(text, f.secrets, f[1] .. ": error value")
      end
      assert_no_leak(table.concat(logs, "\n"), f.secrets, f[1] .. ": log lines")
    end
  end)

  it("libpq reads what its writer meant where the URL is valid: the oracle agrees", function()
    local host, port = h.pg_tcp()
    assert.same({"Wolf7#Kite8?Moth9"}, libpq_passwords(("postgresql://u:Wolf7#Kite8?Moth9@%s:%s/db"):format(host, port)))
    assert.same({"Lynx0Hare1Crow2"}, libpq_passwords("postgresql://u@h/db?password=Wolf7Kite8&password=Lynx0Hare1Crow2"))
    assert.same({"Wolf7Kite8"}, libpq_passwords("postgresql://u@h/db?pass%77ord=Wolf7Kite8"))
    -- libpq ends the userinfo at the first '@': a mask that takes the last one is wrong
    assert.same({"Wolf7"}, libpq_passwords("postgresql://u:Wolf7@Kite8Moth9@h/db"))
    assert.is_nil(libpq_passwords("postgresql://u:Wolf7%zzKite8@h/db"))
  end)

  it("a valid password with '#' and '?' is masked in current -v and in connection errors", function()
    local host, port = h.pg_tcp()
    local dir = h.project(revs)
    local u = ("postgresql://luamig_pw_user:Wolf7#Kite8?Moth9@%s:%s/postgres"):format(host, port)
    local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(u) .. " current -v")
    assert.equal(1, status)
    assert.equal(("INFO  [luamig] Database: postgresql://luamig_pw_user:***@%s:%s/postgres (from --url)\n"
      .. "FAILED: cannot connect to PostgreSQL at 'postgresql://luamig_pw_user:***@%s:%s/postgres': "
      .. "connection to server at \"%s\", port %s failed: FATAL:  password authentication failed for user "
      .. "\"luamig_pw_user\"\n"):format(host, port, host, port, host, port), err)
  end)

  it("a URL that libpq cannot read is refused without quoting it, with libpq's reason", function()
    local dir = h.project(revs)
    local hidden = "; the URL is not shown, as it may hold a password\n"
    for _, c in ipairs{
      {"postgresql:/u:Wolf7Kite8@h/db", "a PostgreSQL URL starts with postgresql://"},
      {"postgresql//u:Wolf7Kite8@h/db", "expected sqlite:PATH or postgresql://USER@HOST/DBNAME"},
      {"host=h password=Wolf7Kite8 dbname=db", "expected sqlite:PATH or postgresql://USER@HOST/DBNAME"},
      {"postgresql://u:Wolf7%zzKite8@h/db", "invalid percent-encoded token"},
      {"postgresql://u:Wolf7%00Kite8@h/db", "forbidden value %00 in percent-encoded value"},
      {"postgresql://u:Wolf7Kite8@[::1/db", "end of string reached when looking for matching \"]\" in IPv6 host address in URI"},
      {"postgresql://h/db?Wolf7Kite8", "missing key/value separator \"=\" in URI query parameter"},
      {"postgresql://u:Wolf7@Kite8@h/db", "a host name holds a character no host name has; a user name "
        .. "or password holding / @ : ? # or a space must be percent-encoded, e.g. @ as %40 and / as %2F"},
      {"postgresql://u:12/Wolf7Kite8@h/db", "an '@' after the first '/' (a database name holding @ must "
        .. "be percent-encoded as %40); a user name or password holding / @ : ? # or a space must be "
        .. "percent-encoded, e.g. @ as %40 and / as %2F"},
      {"postgresql://u:Wolf7/Kite8@h/db", "invalid port number: a port is a number up to 65535, and a user "
        .. "name or password holding / @ : ? # or a space must be percent-encoded, e.g. @ as %40 and / as %2F"},
    } do
      local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(c[1]) .. " current")
      assert.equal(1, status)
      assert.equal("", out)
      assert.equal("FAILED: invalid database URL (" .. c[2] .. ")" .. hidden, err)
    end
  end)

  it("a URL put where a command or argument belongs is not quoted by the usage error", function()
    local dir = h.project(revs)
    for _, args in ipairs{"'postgresql://u@h/db?Wolf7Kite8' current", "'u:Wolf7Kite8@h/db' current",
                          "'host=h password=Wolf7Kite8' current"} do
      local status, out, err = h.luamig(dir, args)
      assert.equal(2, status)
      assert.equal("", out)
      assert.equal("luamig: unknown command (a database URL? it is not shown; give it with --url)\n"
        .. "usage: luamig [global options] COMMAND [options]\n(luamig --help for more)\n", err)
    end
    local status, _, err = h.luamig(dir, "current 'postgresql://u@h/db?Wolf7Kite8'")
    assert.equal(2, status)
    assert.equal("luamig: unexpected argument (a database URL? it is not shown; give it with --url)\n"
      .. "usage: luamig current [-v] [--check-heads]\n(luamig current --help for more)\n", err)
  end)

  it("a login that works: its output and the log table never show the password", function()
    h.ensure_pg_password_user()
    local name, admin_url = h.fresh_pg()
    local admin = core.connect(admin_url)
    admin:exec(("ALTER DATABASE %s OWNER TO %s"):format(core.quote_ident(name), core.quote_ident(h.pg_password_user)))
    admin:exec(("ALTER SCHEMA public OWNER TO %s"):format(core.quote_ident(h.pg_password_user)))
    admin:close()
    local host, port = h.pg_tcp()
    local u = ("postgresql://%s:%s@%s:%s/%s?password=%s"):format(h.pg_password_user, h.url_escape("decoy-Wolf7Kite8"),
      host, port, name, h.url_escape(h.pg_password))
    local dir = h.project(revs)
    local secrets = {{text = h.pg_password, width = 6}, {text = "decoy-Wolf7Kite8"}}
    local all = ""
    for _, cmd in ipairs{"upgrade head", "current -v", "--json current", "history -i -v", "verify",
                         "downgrade s1", "stamp head", "--json history"} do
      local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(u) .. " " .. cmd)
      assert.equal(0, status, cmd .. ": " .. err)
      all = all .. out .. err
    end
    assert.truthy(all:find(("Current revision(s) for postgresql://%s:***@%s:%s/%s"):format(h.pg_password_user,
      host, port, name), 1, true), all)
    assert_no_leak(all, secrets, "output")
    local conn = core.connect(u)
    local rows = conn:query("SELECT * FROM luamig_log")
    conn:close()
    assert.truthy(#rows >= 3)
    local cells = {}
    for _, r in ipairs(rows) do for _, v in pairs(r) do cells[#cells + 1] = tostring(v) end end
    assert_no_leak(table.concat(cells, "\n"), secrets, "luamig_log")
  end)
end)

describe("[sqlite] 14. sqlite URLs still work with the redactor in place", function()
  it("a project on SQLite: every command as before", function()
    local dir = h.project(revs)
    local status, out, err = h.luamig(dir, "--url sqlite:///app.db upgrade head")
    assert.equal(0, status, err)
    status, out = h.luamig(dir, "--url sqlite:///app.db current -v")
    assert.equal(0, status)
    assert.truthy(out:find("Current revision(s) for sqlite:///app.db:", 1, true), out)
    status, out = h.luamig(dir, "--url sqlite:///app.db --json current")
    assert.equal(0, status)
    assert_json(out, "current --json")
  end)

  it("a config whose syntax error is at punctuation still names it", function()
    local dir = h.project(revs, "url = = 1\n")
    local status, _, err = h.luamig(dir, "current")
    assert.equal(1, status)
    assert.equal("FAILED: luamig.lua:1: unexpected symbol near '='\n", err)
  end)

  it("a config's unterminated string is named without its text", function()
    local dir = h.project(revs, 'url = "postgresql://u:Wolf7Kite8@h/db\n')
    local status, _, err = h.luamig(dir, "current")
    assert.equal(1, status)
    assert.equal("FAILED: luamig.lua:1: unfinished string (the text there is not quoted: it may hold a "
      .. "password)\n", err)
  end)
end)

---------------------------------------------------------------------------
-- 17. An empty URL.

h.each_db(function(db)
  it("17. --url '' is a usage error: nothing falls back to the config's database", function()
    local url = db.url()
    local dir = h.project(revs, ("url = %q\n"):format(url))
    local status, out, err = h.luamig(dir, "--url '' upgrade head")
    assert.equal(2, status)
    assert.equal("", out)
    assert.equal("luamig: --url is empty (an unset shell variable?); give a database URL, or leave --url "
      .. "out to use DATABASE_URL or the config's url\nusage: luamig upgrade [TARGET] [--sql] [--plan] [--tag TAG]\n"
      .. "(luamig upgrade --help for more)\n", err)
    status = h.luamig(dir, "--url= current")
    assert.equal(2, status)
    assert.same({}, h.tables(url))                    -- the config's database untouched
    assert.is_false(h.file_exists(dir .. "/luamig.db"))
  end)

  it("17. DATABASE_URL='' is an error, not a fall back to luamig.lua's url", function()
    local url = db.url()
    local dir = h.project(revs, ("url = %q\n"):format(url))
    local status, out, err = h.luamig(dir, "upgrade head", {DATABASE_URL = ""})
    assert.equal(1, status)
    assert.equal("", out)
    assert.equal("FAILED: DATABASE_URL is set but empty; set it to a database URL, or unset it to use the "
      .. "config's url\n", err)
    assert.same({}, h.tables(url))
    -- --url decides before DATABASE_URL is looked at
    status = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head", {DATABASE_URL = ""})
    assert.equal(0, status)
    assert.same({"s2"}, h.version_rows(url))
  end)

  it("17. url = '' in luamig.lua is an error naming the file, not the default database", function()
    local dir = h.project(revs, 'url = ""\n')
    local status, out, err = h.luamig(dir, "upgrade head")
    assert.equal(1, status)
    assert.equal("", out)
    assert.equal("FAILED: luamig.lua: url is empty; give a database URL or remove the setting\n", err)
    assert.is_false(h.file_exists(dir .. "/luamig.db"))
    local url = db.url()
    status = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")
    assert.equal(0, status)
    assert.same({"s2"}, h.version_rows(url))
  end)

  it("17. the embedding API and --scratch-url refuse an empty URL too", function()
    local err = h.error_of(luamig.open, {url = "", script_location = "migrations"})
    assert.equal("luamig.open: the database URL is empty (an unset shell variable?); give a URL, or "
      .. "leave it out to use DATABASE_URL or the config's url", err.message)
    local dir = h.project(revs)
    local status, _, stderr = h.luamig(dir, "--url " .. h.shell_quote(db.url()) .. " roundtrip --scratch-url ''")
    assert.equal(2, status)
    assert.truthy(stderr:find("luamig: --scratch-url is empty", 1, true), stderr)
  end)
end)

---------------------------------------------------------------------------
-- 19. --json is valid JSON whatever bytes a message holds.

h.each_db(function(db)
  it("19. --json with a Latin-1 message, a stray byte and a NUL is valid JSON, bad bytes as U+FFFD", function()
    local url = db.url()
    local dir = h.project({
      {id = "j1", message = "caf\xe9 cr\xe8me", up = "CREATE TABLE j (id INTEGER)", down_sql = "DROP TABLE j"},
      {id = "j2", down = "j1", message = "ok \xe2\x82\xac \xff\xfe \xed\xa0\x80 \xc0\xaf \"q\" \\ \1",
       up = "CREATE TABLE k (id INTEGER)", down_sql = "DROP TABLE k"},
    })
    local status, _, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " upgrade head")
    assert.equal(0, status, err)
    for _, cmd in ipairs{"--json history", "--json current", "--json heads", "--json show j1",
                         "--json history -i", "--json upgrade head --plan", "--json downgrade base --plan"} do
      local out
      status, out, err = h.luamig(dir, "--url " .. h.shell_quote(url) .. " " .. cmd)
      assert.equal(0, status, cmd .. ": " .. err)
      assert_json(out, cmd)
    end
    -- what the independent parser reads: each invalid byte is one U+FFFD
    local _, out = h.luamig(dir, "--url " .. h.shell_quote(url) .. " --json history")
    local f = os.tmpname()
    h.write_file(f, out)
    local _, messages = h.run("python3 -c 'import json,sys; [print(ascii(r[\"message\"])) for r in "
      .. "json.load(open(sys.argv[1], encoding=\"utf-8\"))]' " .. h.shell_quote(f))
    os.remove(f)
    assert.same({[['ok \u20ac \ufffd\ufffd \ufffd\ufffd\ufffd \ufffd\ufffd "q" \\ \x01']],
                 [['caf\ufffd cr\ufffdme']]}, h.lines(messages))
  end)
end)

---------------------------------------------------------------------------
-- Found by an outside attack on the redactor itself.

describe("[postgresql] 14. the redactor masks a password, not the words it happens to be", function()
  local words = {
    {id = "w1", message = "create words", code = true,
     up = "  op.create_table('words', {{'id', 'integer', primary_key = true}, {'w', 'text'}})\n"
       .. "  op.bulk_insert('words', {{id = 1, w = 'please upgrade now'}})\n"
       .. "  op.execute(\"INSERT INTO words VALUES (2, 'version')\")",
     down_sql = "  op.drop_table('words')"},
  }

  it("--sql is the same script whatever the password: a password that is a word does not rewrite it", function()
    local dir = h.project(words)
    local function sql(pw)
      local status, out = h.luamig(dir, "upgrade head --sql",
        {DATABASE_URL = "postgresql://app:" .. pw .. "@127.0.0.1:5432/app"})
      assert.equal(0, status)
      return out
    end
    local plain = sql("Zq9xWv2kLp")
    assert.truthy(plain:find('CREATE TABLE IF NOT EXISTS "luamig_version" (version_num', 1, true), plain)
    assert.truthy(plain:find("please upgrade now", 1, true))
    for _, pw in ipairs{"version", "upgrade", "create", "postgres", "words"} do
      assert.equal(plain, sql(pw), pw)
    end
  end)

  it("a password inside a longer word is left there, so what is hidden does not tell it", function()
    local dir = h.project(words)
    for _, pw in ipairs{"postgres", "version", "migration"} do
      local env = {DATABASE_URL = "postgresql://app:" .. pw .. "@127.0.0.1:1/app"}
      local status, _, err = h.luamig(dir, "current", env)
      assert.equal(1, status)
      assert.truthy(err:find("FAILED: cannot connect to PostgreSQL at 'postgresql://app:***@127.0.0.1:1/app'", 1, true), err)
      local out
      status, out = h.luamig(dir, "--json history", env)
      assert.equal(0, status)
      assert.truthy(out:find('"path":"migrations/versions/w1.lua"', 1, true), out)
    end
    -- standing alone, the password is still masked
    local env = {DATABASE_URL = "postgresql://app:hunter22@127.0.0.1:1/app"}
    h.write_file(dir .. "/migrations/versions/w2.lua", h.script{id = "w2", down = "w1",
      message = "the password hunter22 in a message"})
    local _, out = h.luamig(dir, "history", env)
    assert.truthy(out:find("the password *** in a message", 1, true), out)
    assert.is_nil(out:find("hunter22", 1, true))
  end)

  it("a URL whose user name is empty (unset shell variables) is refused, not sent to libpq's defaults", function()
    local dir = h.project(words)
    for _, u in ipairs{"postgresql://:@/", "postgresql://@/app", "postgresql://:Wolf7Kite8@h/app",
                       "postgres://:@localhost/"} do
      local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(u) .. " upgrade head")
      assert.equal(1, status, u)
      assert.equal("", out)
      assert.equal("FAILED: invalid database URL (the user name before '@' is empty (an unset shell "
        .. "variable?); write the user, or leave out the '@' to use libpq's default); the URL is not "
        .. "shown, as it may hold a password\n", err)
    end
  end)

  it("a URL whose password after ':' is empty (an unset shell variable) is refused", function()
    local dir = h.project(words)
    for _, u in ipairs{"postgresql://user:@/", "postgresql://app:@127.0.0.1:5432/app"} do
      local status, out, err = h.luamig(dir, "--url " .. h.shell_quote(u) .. " upgrade head")
      assert.equal(1, status, u)
      assert.equal("", out)
      assert.equal("FAILED: invalid database URL (the password after ':' is empty (an unset shell "
        .. "variable?); write the password, or leave out the ':' to connect without one); the URL is "
        .. "not shown, as it may hold a password\n", err)
    end
  end)

  it("an -x value is the scripts', not a secret: it is not masked in other words", function()
    local dir = h.project({{id = "n1", message = "go near the edge"}})
    local status, out = h.luamig(dir, "-x mode=near history")
    assert.equal(0, status)
    assert.equal("<base> -> n1 (head), go near the edge\n", out)
  end)

  it("-x without '=' is not quoted back: -x values carry secrets", function()
    local dir = h.project(words)
    for _, arg in ipairs{"db_password:S3cretValue", "=S3cretValue"} do
      local status, out, err = h.luamig(dir, "-x " .. h.shell_quote(arg) .. " history")
      assert.equal(2, status)
      assert.equal("", out)
      assert.is_nil(err:find("S3cretValue", 1, true))
      assert.truthy(err:find("-x takes KEY=VALUE, or a KEY alone (letters, digits, _ . -) for KEY=\"\"; "
        .. "the argument given is not shown", 1, true), err)
    end
  end)
end)

describe("[sqlite] config: an unknown setting's warning lists every setting luamig knows", function()
  it("a typo of url is named, and url, version_locations, naming_convention, include_object are listed", function()
    local dir = h.project(revs, "urll = 'sqlite:x.db'\n")
    local status, _, err = h.luamig(dir, "--url sqlite:app.db history")
    assert.equal(0, status, err)
    local list = err:match("unknown setting 'urll' is ignored %(did you mean 'url'%?%); known settings: ([^\n]*)")
    assert.truthy(list, err)
    for _, name in ipairs{"url", "version_locations", "naming_convention", "include_object",
                          "script_location", "version_table", "lock_timeout"} do
      assert.truthy((", " .. list .. ","):find(", " .. name .. ",", 1, true), name .. " in: " .. list)
    end
  end)
end)
