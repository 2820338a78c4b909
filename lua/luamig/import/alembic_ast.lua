-- luamig.import.alembic_ast -- the Python program `luamig import alembic` runs
-- with python3 (python3 -c is not used: it is written to a temporary file):
-- it parses each Alembic revision file with Python's own ast module (nothing of
-- the files is executed) and prints a Lua chunk returning, per file, the header
-- values and the upgrade()/downgrade() bodies translated to luamig op calls,
-- with error("not translated: ...") where a statement has no faithful
-- translation. luamig.import.alembic loads that chunk as data and writes the
-- scripts. Kept here as a string so the self-contained binary carries it.
return [==[
# luamig import alembic: reads Alembic revision files with Python's own
# parser (ast) and prints, for luamig, a Lua chunk that returns what each
# file holds: its header values and its upgrade()/downgrade() bodies
# translated to luamig's op calls. Nothing of the files is executed.
import ast, io, os, sys, re, tokenize

if sys.version_info < (3, 9):
    sys.stderr.write("luamig import alembic needs Python 3.9 or later (ast.unparse); python3 is %d.%d\n"
                     % sys.version_info[:2])
    sys.exit(3)

KEYWORDS = set("and break do else elseif end false for function goto if in local nil not or "
               "repeat return then true until while".split())

class Untranslatable(Exception):
    pass

def lua_str(s):
    if not isinstance(s, str):
        raise Untranslatable("a string was expected")
    try:
        b = s.encode("utf-8")
    except UnicodeEncodeError:
        raise Untranslatable("a string that is not valid UTF-8")
    if "\n" in s and "\r" not in s and not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", s):
        level = 0
        while ("]" + "=" * level + "]") in s + "]":
            level += 1
        eq = "=" * level
        return "[" + eq + "[\n\x01" + s.replace("\n", "\n\x01") + "]" + eq + "]"
    q = "'" if ('"' in s and "'" not in s) else '"'      # the quote that needs no escape
    out = []
    for ch in b:
        c = chr(ch)
        if c == q or c == "\\":
            out.append("\\" + c)
        elif ch < 32 or ch == 127:
            out.append({10: "\\n", 9: "\\t", 13: "\\r"}.get(ch, "\\%03d" % ch))
        else:
            out.append(None)
            out[-1] = bytes([ch])
    res = b""
    for piece in out:
        res += piece if isinstance(piece, bytes) else piece.encode()
    return q + res.decode("utf-8") + q

def lua_key(k):
    if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k) and k not in KEYWORDS:
        return k
    return "[" + lua_str(k) + "]"

def lua_value(v):
    if v is None:
        return "nil"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        if not -2**63 <= v < 2**63:
            raise Untranslatable("an integer outside 64 bits")
        return "math.mininteger" if v == -2**63 else str(v)   # -9223372036854775808 reads as a float
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise Untranslatable("a float that is NaN or infinite")
        r = repr(v)
        return r if ("." in r or "e" in r) else r + ".0"
    if isinstance(v, str):
        return lua_str(v)
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(lua_value(x) for x in v) + "}"
    raise Untranslatable("a value of type " + type(v).__name__)

def opts_table(pairs):
    pairs = [(k, v) for k, v in pairs if v is not None]
    if not pairs:
        return None
    return "{" + ", ".join("%s = %s" % (lua_key(k), v) for k, v in pairs) + "}"

# ---------------------------------------------------------------- expressions

def dotted(node):
    """'sa.Column' for sa.Column, 'op.f' ... or None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None

def last(name):
    return name.rsplit(".", 1)[-1] if name else None

def const(node, what="a literal value"):
    """A literal Python value (str, number, bool, None, tuples/lists of them)."""
    if isinstance(node, ast.JoinedStr):
        if all(isinstance(v, ast.Constant) for v in node.values):
            return "".join(v.value for v in node.values)
        raise Untranslatable("an f-string with expressions")
    if isinstance(node, ast.Call) and last(dotted(node.func)) == "f" and len(node.args) == 1:
        return const(node.args[0])            # op.f("name")
    try:
        return ast.literal_eval(node)
    except Exception:
        raise Untranslatable(what + ", got " + describe(node))

def describe(node):
    try:
        s = ast.unparse(node)
    except Exception:
        s = type(node).__name__
    return s if len(s) <= 60 else s[:57] + "..."

def text_of(node, what="SQL text"):
    """A string literal or sa.text("...") -> the SQL text."""
    if isinstance(node, ast.Call) and last(dotted(node.func)) in ("text", "literal_column") and len(node.args) == 1:
        return const(node.args[0], what)
    v = const(node, what)
    if not isinstance(v, str):
        raise Untranslatable(what + " must be a string, got " + describe(node))
    return v

def kwargs(call):
    d = {}
    for k in call.keywords:
        if k.arg is None:
            raise Untranslatable("**keyword arguments")
        d[k.arg] = k.value
    return d

def check_known(call, known, what):
    for k in kwargs(call):
        if k not in known and not k.startswith("mysql_") and not k.startswith("mssql_") \
                and not k.startswith("oracle_") and not k.startswith("mariadb_"):
            raise Untranslatable("%s: keyword %s" % (what, k))

def no_star(call):
    for a in call.args:
        if isinstance(a, ast.Starred):
            raise Untranslatable("*arguments")

SIMPLE_TYPES = {
    "Integer": "integer", "INTEGER": "integer", "INT": "integer",
    "BigInteger": "bigint", "BIGINT": "bigint",
    "SmallInteger": "smallint", "SMALLINT": "smallint",
    "Text": "text", "TEXT": "text", "UnicodeText": "text", "CLOB": "text",
    "Boolean": "boolean", "BOOLEAN": "boolean",
    "Date": "date", "DATE": "date",
    "LargeBinary": "binary", "BLOB": "binary", "BYTEA": "bytea", "BINARY": "binary", "VARBINARY": "binary",
    "JSON": "json", "JSONB": "jsonb", "UUID": "uuid", "INET": "inet", "CIDR": "cidr",
    "MACADDR": "macaddr", "TSVECTOR": "tsvector", "CITEXT": "citext", "Interval": "interval",
    "INTERVAL": "interval", "MONEY": "money", "OID": "oid", "INT4RANGE": "int4range",
    "INT8RANGE": "int8range", "NUMRANGE": "numrange", "DATERANGE": "daterange",
    "TSRANGE": "tsrange", "TSTZRANGE": "tstzrange", "HSTORE": "hstore", "BIT": "bit",
    "REAL": "real", "DOUBLE_PRECISION": "double",
}

def module_imports(tree):
    """name -> the dotted path it was imported as, for the file's module-level
    imports ("sa" -> "sqlalchemy", "String" -> "sqlalchemy.Text" for
    from sqlalchemy import Text as String); "*" -> the modules imported with *."""
    imports = {"*": []}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    imports[a.asname] = a.name
                else:
                    head = a.name.split(".")[0]
                    imports[head] = head
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for a in node.names:
                if a.name == "*":
                    imports["*"].append(node.module)
                else:
                    imports[a.asname or a.name] = node.module + "." + a.name
    return imports

def resolve_type_name(name, ctx):
    """The dotted path a type's name stands for, through the file's imports;
    refuses a name that is not imported or not SQLAlchemy's (sqlmodel's)."""
    if not name:
        return None
    head, _, rest = name.partition(".")
    full = ctx.imports.get(head)
    if full is None:
        star = [m for m in ctx.imports["*"] if m.split(".")[0] in ("sqlalchemy", "sqlmodel")]
        if not star:
            raise Untranslatable("type %s: %s is not imported from SQLAlchemy in this file" % (name, head))
        full = star[0] + "." + head
    full = full + ("." + rest if rest else "")
    if full.split(".")[0] not in ("sqlalchemy", "sqlmodel"):
        raise Untranslatable("type %s: it is %s, not a SQLAlchemy type" % (name, full))
    return full

def type_expr(node, ctx):
    """A SQLAlchemy type -> a Lua expression for luamig's type."""
    if isinstance(node, ast.Name) and node.id in ctx.enums:
        return node.id
    name = dotted(node.func) if isinstance(node, ast.Call) else dotted(node)
    t = last(resolve_type_name(name, ctx))
    call = node if isinstance(node, ast.Call) else None
    args = call.args if call else []
    kw = kwargs(call) if call else {}
    def arg(i, key):
        if len(args) > i:
            return const(args[i])
        if key in kw:
            return const(kw[key])
        return None
    if t in ("Enum", "ENUM"):
        return enum_expr(call, ctx) if call else (_ for _ in ()).throw(Untranslatable("Enum without values"))
    if t in SIMPLE_TYPES:
        if t in ("JSON", "JSONB") and kw.keys() - {"none_as_null", "astext_type"}:
            raise Untranslatable("%s(%s)" % (t, ", ".join(kw)))
        if t not in ("JSON", "JSONB", "UUID") and (args or kw) and t not in ("BIT",):
            raise Untranslatable("type " + describe(node))
        if t == "BIT":
            n = arg(0, "length")
            return lua_str("bit(%d)" % n if n else "bit")
        return lua_str(SIMPLE_TYPES[t])
    if t in ("String", "VARCHAR", "Unicode", "NVARCHAR", "CHAR", "NCHAR", "AutoString"):
        n = arg(0, "length")
        coll = kw.get("collation")
        base = ("char" if t in ("CHAR", "NCHAR") else "string")
        s = base + ("(%d)" % n if n is not None else "")
        if coll is not None:
            s += ' collate "%s"' % const(coll)
        return lua_str(s)
    if t in ("Numeric", "NUMERIC", "DECIMAL"):
        p, s = arg(0, "precision"), arg(1, "scale")
        if p is None:
            return lua_str("numeric")
        return lua_str("numeric(%d)" % p if s is None else "numeric(%d,%d)" % (p, s))
    if t in ("Float", "FLOAT"):
        p = arg(0, "precision")
        return lua_str("float" if p is None else "float(%d)" % p)
    if t in ("DateTime", "TIMESTAMP", "DATETIME"):
        tz = arg(0, "timezone")
        p = kw.get("precision")
        p = "" if p is None else "(%d)" % const(p)
        return lua_str(("timestamptz" if tz else "timestamp") + p)
    if t in ("Time", "TIME"):
        tz = arg(0, "timezone")
        p = kw.get("precision")
        p = "" if p is None else "(%d)" % const(p)
        return lua_str("time" + p + (" with time zone" if tz else ""))
    if t == "ARRAY" and call:
        inner = type_expr(args[0], ctx) if args else None
        if not inner or not inner.startswith('"') or kw.keys() - {"dimensions"}:
            raise Untranslatable("type " + describe(node))
        dims = const(kw["dimensions"]) if "dimensions" in kw else 1
        return inner[:-1] + "[]" * dims + '"'
    raise Untranslatable("type " + describe(node))

def enum_parts(call, ctx, need_values=True):
    no_star(call)
    values = [const(a, "an enum value") for a in call.args]
    if (need_values and not values) or not all(isinstance(v, str) for v in values):
        raise Untranslatable("an enum whose values are not string literals")
    kw = kwargs(call)
    check_known(call, {"name", "create_type", "native_enum", "create_constraint", "schema", "metadata", "inherit_schema"}, "Enum")
    if "native_enum" in kw and const(kw["native_enum"]) is False:
        raise Untranslatable("Enum(native_enum=False)")
    if "schema" in kw and const(kw["schema"]) is not None:
        raise Untranslatable("Enum(schema=...)")
    name = const(kw["name"]) if "name" in kw else None
    if name is None:
        raise Untranslatable("an Enum without name=")
    create_type = const(kw["create_type"]) if "create_type" in kw else True
    return name, values, create_type

def enum_expr(call, ctx):
    name, values, create_type = enum_parts(call, ctx)
    o = [("name", lua_str(name))]
    if create_type is False:
        o.append(("create_type", "false"))
    expr = "op.enum(%s, %s)" % (lua_value(values), opts_table(o))
    kw = kwargs(call)
    if not ("create_constraint" in kw and const(kw["create_constraint"])):
        # SQLAlchemy 1.4's Enum on SQLite: VARCHAR(longest value), no CHECK
        # unless create_constraint=True (luamig's op.enum makes the CHECK)
        expr = 'op.dialect == "sqlite" and "string(%d)" or %s' % (max(len(v) for v in values), expr)
    return expr

def default_expr(node):
    """A server_default -> a Lua value."""
    if isinstance(node, ast.Call) and last(dotted(node.func)) in ("text", "literal_column"):
        return "op.raw(%s)" % lua_str(text_of(node))
    if isinstance(node, ast.Constant) and node.value is None:
        return "op.NULL"
    f = dotted(node.func) if isinstance(node, ast.Call) else None
    if f and not node.args and not node.keywords:
        if last(f) in ("true", "false") and f.rsplit(".", 1)[0] in ("sa", "sqlalchemy", "expression", "sql"):
            return last(f)                     # sa.true()/sa.false(): TRUE/FALSE, 1/0 on SQLite
        if f in ("sa.func.now", "func.now", "sqlalchemy.func.now"):
            # SQLAlchemy renders now() on PostgreSQL, CURRENT_TIMESTAMP on SQLite
            return 'op.raw(op.dialect == "postgresql" and "now()" or "CURRENT_TIMESTAMP")'
    v = const(node, "a server default")
    if isinstance(v, bool):
        return lua_value(v)
    if isinstance(v, str):
        return lua_str(v)
    raise Untranslatable("server_default " + describe(node))

def fk_parts(call):
    no_star(call)
    kw = kwargs(call)
    check_known(call, {"name", "ondelete", "onupdate", "deferrable", "initially", "match", "use_alter"}, "ForeignKey")
    target = const(call.args[0], "a ForeignKey target") if call.args else None
    if not isinstance(target, str) or "." not in target:
        raise Untranslatable("ForeignKey(" + describe(call) + ")")
    table, col = target.rsplit(".", 1)
    return table, col, kw

def column_expr(call, ctx, where, table=None, pk_names=(), after=None):
    """sa.Column(...) -> a luamig column entry ({...}) and extra table entries;
    statements to run after the operation are appended to after."""
    no_star(call)
    if not call.args:
        raise Untranslatable("a Column without a name")
    name = const(call.args[0], "a column name")
    if not isinstance(name, str):
        raise Untranslatable("a Column without a name")
    rest = call.args[1:]
    typ = None
    fields, extra = [], []
    for a in rest:
        f = last(dotted(a.func)) if isinstance(a, ast.Call) else None
        if f == "ForeignKey":
            table, col, kw = fk_parts(a)
            if "name" in kw and const(kw["name"]) is not None:
                if where != "create_table":
                    raise Untranslatable("a named ForeignKey in " + where)
                o = [("foreign_key", lua_value([name])), ("references", "{%s, {%s}}" % (lua_str(table), lua_str(col))),
                     ("name", lua_str(const(kw["name"])))]
                for k in ("ondelete", "onupdate", "initially", "match"):
                    if k in kw: o.append((k, lua_value(const(kw[k]))))
                if "deferrable" in kw: o.append(("deferrable", lua_value(const(kw["deferrable"]))))
                extra.append(opts_table(o))
            else:
                fields.append(("references", lua_str(table + "." + col) if "." not in table else "{%s, %s}" % (lua_str(table), lua_str(col))))
                for k in ("ondelete", "onupdate"):
                    if k in kw and const(kw[k]) is not None:
                        fields.append((k, lua_str(const(kw[k]))))
                for k in ("deferrable", "initially", "match"):
                    if k in kw and const(kw[k]) is not None:
                        raise Untranslatable("ForeignKey(%s=...) on a column" % k)
        elif f == "CheckConstraint":
            kwc = kwargs(a)
            if kwc.keys() - {"name"} or len(a.args) != 1:
                raise Untranslatable("CheckConstraint " + describe(a))
            cond = text_of(a.args[0], "a check condition")
            if "name" in kwc and const(kwc["name"]) is not None:
                if where != "create_table":
                    raise Untranslatable("a named CheckConstraint in " + where)
                extra.append(opts_table([("check", lua_str(cond)), ("name", lua_str(const(kwc["name"])))]))
            else:
                fields.append(("check", lua_str(cond)))
        elif f in ("Identity", "Computed", "Sequence", "FetchedValue", "DefaultClause"):
            raise Untranslatable("sa.%s() in a Column" % f)
        elif typ is None:
            typ = type_expr(a, ctx)
        else:
            raise Untranslatable("Column argument " + describe(a))
    if typ is None:
        raise Untranslatable("a Column without a type")
    kw = kwargs(call)
    check_known(call, {"nullable", "primary_key", "server_default", "autoincrement", "unique", "index",
                       "comment", "default", "onupdate", "key", "info", "doc", "quote", "system"}, "Column")
    for k in ("key", "info", "doc", "quote", "system", "server_onupdate"):
        if k in kw and k != "key" and k != "info" and k != "doc":
            raise Untranslatable("Column(%s=...)" % k)
    both = all(k in kw and const(kw[k]) for k in ("unique", "index"))
    if both:
        # SQLAlchemy makes one unique index ix_<table>_<column> (no unique
        # constraint beside it)
        if table is None or after is None:
            raise Untranslatable("Column(index=True, unique=True) in " + where)
        after.append(fmt("op.create_index", lua_str("ix_%s_%s" % (table, name)), lua_str(table),
                         lua_value([name]), "{unique = true}"))
    for k in ("primary_key", "nullable", "unique", "index"):
        if k in kw and not (both and k in ("unique", "index")):
            v = const(kw[k])
            if v is not None:
                fields.append((k, lua_value(bool(v))))
    if "server_default" in kw:
        fields.append(("server_default", default_expr(kw["server_default"])))
    if "autoincrement" in kw:
        v = const(kw["autoincrement"])
        is_pk = ("primary_key" in kw and const(kw["primary_key"])) or name in pk_names
        if v is True and not is_pk:
            pass                   # SQLAlchemy 1.4 ignores it on a column outside the primary key
        elif v in (True, False):
            fields.append(("autoincrement", lua_value(v)))
        elif v != "auto":
            raise Untranslatable("autoincrement=%r" % (v,))
    if "comment" in kw:
        v = const(kw["comment"])
        if v is not None:
            fields.append(("comment", lua_str(v)))
    entry = "{" + ", ".join([lua_str(name), typ] + ["%s = %s" % (k, v) for k, v in fields]) + "}"
    return entry, extra

def str_list(node, what):
    v = const(node, what)
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
        raise Untranslatable(what + " " + describe(node))
    return list(v)

def fk_target_list(node):
    out = []
    for t in str_list(node, "ForeignKeyConstraint targets"):
        if "." not in t:
            raise Untranslatable("ForeignKeyConstraint target " + t)
        out.append(t.rsplit(".", 1))
    if len({t for t, _ in out}) != 1:
        raise Untranslatable("ForeignKeyConstraint to several tables")
    return out[0][0], [c for _, c in out]

def table_constraint(call):
    f = last(dotted(call.func))
    no_star(call)
    kw = kwargs(call)
    o = []
    def named():
        if "name" in kw and const(kw["name"]) is not None:
            o.append(("name", lua_str(const(kw["name"]))))
    def opt(*keys):
        for k in keys:
            if k in kw and const(kw[k]) is not None:
                o.append((k, lua_value(const(kw[k]))))
    if f == "PrimaryKeyConstraint":
        check_known(call, {"name"}, f)
        o.append(("primary_key", lua_value([const(a) for a in call.args])))
        named()
    elif f == "UniqueConstraint":
        check_known(call, {"name", "deferrable", "initially"}, f)
        o.append(("unique", lua_value([const(a) for a in call.args])))
        named(); opt("deferrable", "initially")
    elif f == "ForeignKeyConstraint":
        check_known(call, {"name", "ondelete", "onupdate", "deferrable", "initially", "match", "use_alter"}, f)
        if len(call.args) != 2:
            raise Untranslatable(describe(call))
        cols = str_list(call.args[0], "ForeignKeyConstraint columns")
        table, rcols = fk_target_list(call.args[1])
        o.append(("foreign_key", lua_value(cols)))
        o.append(("references", "{%s, %s}" % (lua_str(table), lua_value(rcols))))
        named(); opt("ondelete", "onupdate", "deferrable", "initially", "match")
    elif f == "CheckConstraint":
        check_known(call, {"name"}, f)
        if len(call.args) != 1:
            raise Untranslatable(describe(call))
        o.append(("check", lua_str(text_of(call.args[0], "a check condition"))))
        named()
    else:
        return None
    return opts_table(o)

def sa_table(call, ctx):
    """sa.table("t", sa.column("a", sa.String), ...) -> op.table(...)"""
    no_star(call)
    if kwargs(call).keys() - {"schema"} or ("schema" in kwargs(call) and const(kwargs(call)["schema"]) is not None):
        raise Untranslatable("table(schema=...)")
    name = const(call.args[0], "a table name")
    cols = []
    for a in call.args[1:]:
        if not (isinstance(a, ast.Call) and last(dotted(a.func)) in ("column", "Column")):
            raise Untranslatable("table() entry " + describe(a))
        cname = const(a.args[0], "a column name")
        if len(a.args) > 1:
            cols.append("{%s, %s}" % (lua_str(cname), type_expr(a.args[1], ctx)))
        else:
            cols.append(None)
    names = [const(a.args[0]) for a in call.args[1:]]
    if cols and all(c is None for c in cols):
        # sa.column("a") without a type: bulk_insert takes the table's name
        # (the database's own types rule online, as under Alembic)
        return lua_str(name), names
    if any(c is None for c in cols):
        raise Untranslatable("table() with typed and untyped columns")
    return "op.table(%s, {%s})" % (lua_str(name), ", ".join(cols)), names

# ---------------------------------------------------------------- op calls

def cols_arg(node, ctx):
    items = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node]
    out = []
    for it in items:
        if isinstance(it, ast.Call) and last(dotted(it.func)) in ("text", "literal_column"):
            out.append("op.raw(%s)" % lua_str(text_of(it)))
        else:
            v = const(it, "a column name")
            if not isinstance(v, str):
                raise Untranslatable("index column " + describe(it))
            out.append(lua_str(v))
    return "{" + ", ".join(out) + "}"

def dict_of_str(node, what):
    if not isinstance(node, ast.Dict):
        raise Untranslatable(what + " " + describe(node))
    pairs = []
    for k, v in zip(node.keys, node.values):
        if k is None:
            raise Untranslatable(what + " with **")
        kk, vv = const(k), const(v)
        pairs.append((lua_key(str(kk)), lua_value(vv)))
    return "{" + ", ".join("%s = %s" % p for p in pairs) + "}"

def index_opts(kw, unique_given=True):
    o = []
    if "unique" in kw and const(kw["unique"]):
        o.append(("unique", "true"))
    for k, node in kw.items():
        if k in ("unique", "postgresql_where", "sqlite_where"):
            pass
        elif k in ("postgresql_using",):
            o.append((k, lua_str(const(node))))
        elif k in ("postgresql_concurrently", "if_not_exists", "if_exists", "postgresql_nulls_not_distinct"):
            v = const(node)
            if v is not None: o.append((k, lua_value(bool(v))))
        elif k == "postgresql_include":
            o.append((k, lua_value(str_list(node, "postgresql_include"))))
        elif k in ("postgresql_ops", "postgresql_with"):
            o.append((k, dict_of_str(node, k)))
        elif k == "schema":
            if const(node) is not None:
                raise Untranslatable("schema=")
        elif k.startswith(("mysql_", "mssql_", "oracle_", "mariadb_")):
            pass
        else:
            raise Untranslatable("index keyword " + k)
    # each dialect's where applies to that dialect only, as in Alembic
    pw = text_of(kw["postgresql_where"], "an index where") if "postgresql_where" in kw else None
    sw = text_of(kw["sqlite_where"], "an index where") if "sqlite_where" in kw else None
    return o, pw, sw

def dialect_call(fn, args, o, pw, sw):
    """An index call whose postgresql_* options apply on PostgreSQL only, as
    Alembic's do (luamig refuses them on SQLite): the call under an
    `if op.dialect == "postgresql"` when it has any, a where of each
    dialect's own."""
    generic = [x for x in o if not x[0].startswith("postgresql_")]
    if len(generic) == len(o):
        if pw is not None and pw == sw:
            generic.append(("where", lua_str(pw)))
        elif pw is not None or sw is not None:
            generic.append(("where", 'op.dialect == "postgresql" and %s or %s' % (
                lua_str(pw) if pw is not None else "nil", lua_str(sw) if sw is not None else "nil")
                if pw is not None else 'op.dialect == "sqlite" and %s or nil' % lua_str(sw)))
        return fmt(fn, *(args + [opts_table(generic)]))
    pg = o + ([("where", lua_str(pw))] if pw is not None else [])
    other = generic + ([("where", lua_str(sw))] if sw is not None else [])
    return "\n".join(['if op.dialect == "postgresql" then',
                      "  " + fmt(fn, *(args + [opts_table(pg)])),
                      "else",
                      "  " + fmt(fn, *(args + [opts_table(other)])),
                      "end"])

def call_args(call, names, what):
    """Positional and keyword arguments by name (Alembic's signature order)."""
    no_star(call)
    got = {}
    if len(call.args) > len(names):
        raise Untranslatable(what + ": too many positional arguments")
    for n, a in zip(names, call.args):
        got[n] = a
    for k, v in kwargs(call).items():
        if k in got:
            raise Untranslatable(what + ": " + k + " given twice")
        got[k] = v
    return got

def fmt(fn, *parts):
    parts = [p for p in parts]
    while parts and parts[-1] is None:
        parts.pop()
    return "%s(%s)" % (fn, ", ".join("nil" if p is None else p for p in parts))

def no_schema(a):
    for k in ("schema", "source_schema", "referent_schema"):
        if k in a and const(a.pop(k)) is not None:
            raise Untranslatable(k + "=")

def translate_op(fn, call, ctx, batch=None):
    """op.<fn>(...) -> one Lua statement (batch: the batch variable, table arg left out)."""
    p = (batch + ".") if batch else "op."
    T = [] if batch else ["table_name"]
    def rest(a, known, what):
        for k in a:
            if k not in known and not k.startswith(("mysql_", "mssql_", "oracle_", "mariadb_")):
                raise Untranslatable("%s: keyword %s" % (what, k))
    if fn == "create_table" and not batch:
        no_star(call)
        name = const(call.args[0], "a table name")
        entries, extra, after = [], [], []
        kw = kwargs(call)
        pk_names = set()
        for a in call.args[1:]:
            if isinstance(a, ast.Call) and last(dotted(a.func)) == "PrimaryKeyConstraint":
                pk_names.update(x for x in (const(y) for y in a.args) if isinstance(x, str))
        for a in call.args[1:]:
            f = last(dotted(a.func)) if isinstance(a, ast.Call) else None
            if f == "Column":
                e, x = column_expr(a, ctx, "create_table", const(call.args[0], "a table name"), pk_names, after)
                entries.append(e); extra += x
            else:
                tc = table_constraint(a) if isinstance(a, ast.Call) else None
                if tc is None:
                    raise Untranslatable("create_table entry " + describe(a))
                entries.append(tc)
        o = []
        for k, v in kw.items():
            if k == "comment":
                o.append(("comment", lua_value(const(v))))
            elif k == "schema" and const(v) is None:
                pass
            elif k == "if_not_exists":
                o.append((k, lua_value(bool(const(v)))))
            elif k.startswith(("mysql_", "mssql_", "oracle_", "mariadb_")):
                pass
            else:
                raise Untranslatable("create_table keyword " + k)
        entries += extra
        body = "{\n" + "".join("  " + e + ",\n" for e in entries) + "}"
        return "\n".join([fmt("op.create_table", lua_str(name), body, opts_table(o))] + after)
    if fn == "drop_table" and not batch:
        a = call_args(call, ["table_name"], fn); no_schema(a); rest(a, {"table_name", "if_exists"}, fn)
        o = [("if_exists", lua_value(const(a["if_exists"])))] if "if_exists" in a else []
        return fmt("op.drop_table", lua_str(const(a["table_name"])), opts_table(o))
    if fn == "rename_table" and not batch:
        a = call_args(call, ["old_table_name", "new_table_name"], fn); no_schema(a); rest(a, {"old_table_name", "new_table_name"}, fn)
        return fmt("op.rename_table", lua_str(const(a["old_table_name"])), lua_str(const(a["new_table_name"])))
    if fn == "add_column":
        a = call_args(call, T + ["column"], fn); no_schema(a)
        rest(a, set(T) | {"column", "insert_before", "insert_after", "if_not_exists"}, fn)
        if not (isinstance(a["column"], ast.Call) and last(dotted(a["column"].func)) == "Column"):
            raise Untranslatable("add_column of " + describe(a["column"]))
        after = []
        e, x = column_expr(a["column"], ctx, "add_column" + (" in a batch block" if batch else ""),
                           None if batch else const(a["table_name"]), (), after)
        o = [(k, lua_value(const(a[k]))) for k in ("insert_before", "insert_after", "if_not_exists") if k in a]
        for k in ("insert_before", "insert_after"):
            if k in a:
                note(ctx, "%s=: the column order follows it where Alembic rebuilds the table (SQLite; PostgreSQL too under recreate='always'); luamig places the column on SQLite only" % k)
        return "\n".join([fmt(p + "add_column", *([lua_str(const(a["table_name"]))] if not batch else []), e,
                               opts_table(o))] + after)
    if fn == "drop_column":
        a = call_args(call, T + ["column_name"], fn); no_schema(a)
        rest(a, set(T) | {"column_name", "if_exists"}, fn)
        o = [("if_exists", lua_value(const(a["if_exists"])))] if "if_exists" in a else []
        return fmt(p + "drop_column", *([lua_str(const(a["table_name"]))] if not batch else []),
                   lua_str(const(a["column_name"])), opts_table(o))
    if fn == "alter_column":
        a = call_args(call, T + ["column_name"], fn); no_schema(a)
        o = []
        for k, v in a.items():
            if k in ("table_name", "column_name"):
                continue
            if k in ("nullable", "existing_nullable", "autoincrement", "existing_autoincrement"):
                val = const(v)
                if val is not None: o.append((k, lua_value(bool(val))))
            elif k in ("type_", "existing_type"):
                o.append((k, type_expr(v, ctx)))
            elif k in ("server_default", "existing_server_default"):
                if isinstance(v, ast.Constant) and v.value is False:
                    continue
                if k == "existing_server_default" and isinstance(v, ast.Constant) and v.value is None:
                    continue
                o.append((k, default_expr(v)))
            elif k in ("comment", "existing_comment"):
                if isinstance(v, ast.Constant) and v.value is False:
                    continue
                val = const(v)
                if val is None:
                    if k == "comment": o.append((k, "op.NULL"))
                else:
                    o.append((k, lua_str(val)))
            elif k == "new_column_name":
                o.append((k, lua_str(const(v))))
            elif k == "postgresql_using":
                o.append((k, lua_str(text_of(v, "postgresql_using"))))
            elif k in ("insert_before", "insert_after") and batch:
                o.append((k, lua_str(const(v))))
                note(ctx, "%s=: the column order follows it where Alembic rebuilds the table (SQLite; PostgreSQL too under recreate='always'); luamig places the column on SQLite only" % k)
            elif k.startswith(("mysql_", "mssql_", "oracle_", "mariadb_")) or k == "existing_server_default":
                pass
            else:
                raise Untranslatable("alter_column keyword " + k)
        return fmt(p + "alter_column", *([lua_str(const(a["table_name"]))] if not batch else []),
                   lua_str(const(a["column_name"])), opts_table(o) or "{}")
    if fn == "create_index":
        a = call_args(call, ["index_name"] + T + ["columns"], fn); no_schema(a)
        name = const(a.pop("index_name"))
        tname = const(a.pop("table_name")) if not batch else None
        cols = cols_arg(a.pop("columns"), ctx)
        o, pw, sw = index_opts(a)
        return dialect_call(p + "create_index", [lua_value(name)] + ([lua_str(tname)] if not batch else []) + [cols],
                            o, pw, sw)
    if fn == "drop_index":
        a = call_args(call, ["index_name"] + T, fn); no_schema(a)
        name = const(a.pop("index_name"))
        tname = const(a.pop("table_name")) if "table_name" in a else None
        if not batch and tname is None:
            raise Untranslatable("drop_index without table_name")
        o, pw, sw = index_opts(a)
        return dialect_call(p + "drop_index", [lua_str(name)] + ([lua_str(tname)] if not batch else []), o, None, None)
    if fn == "create_unique_constraint":
        a = call_args(call, ["constraint_name"] + T + ["columns"], fn); no_schema(a)
        rest(a, set(T) | {"constraint_name", "columns", "deferrable", "initially"}, fn)
        o = [(k, lua_value(const(a[k]))) for k in ("deferrable", "initially") if k in a and const(a[k]) is not None]
        return fmt(p + "create_unique_constraint", lua_value(const(a["constraint_name"])),
                   *([lua_str(const(a["table_name"]))] if not batch else []),
                   lua_value(str_list(a["columns"], "columns")), opts_table(o))
    if fn == "create_primary_key":
        a = call_args(call, ["constraint_name"] + T + ["columns"], fn); no_schema(a)
        rest(a, set(T) | {"constraint_name", "columns"}, fn)
        return fmt(p + "create_primary_key", lua_value(const(a["constraint_name"])),
                   *([lua_str(const(a["table_name"]))] if not batch else []),
                   lua_value(str_list(a["columns"], "columns")))
    if fn == "create_foreign_key":
        src = [] if batch else ["source_table"]
        a = call_args(call, ["constraint_name"] + src + ["referent_table", "local_cols", "remote_cols"], fn); no_schema(a)
        rest(a, set(src) | {"constraint_name", "referent_table", "local_cols", "remote_cols", "ondelete", "onupdate",
                            "deferrable", "initially", "match"}, fn)
        o = [(k, lua_value(const(a[k]))) for k in ("ondelete", "onupdate", "deferrable", "initially", "match")
             if k in a and const(a[k]) is not None]
        return fmt(p + "create_foreign_key", lua_value(const(a["constraint_name"])),
                   *([lua_str(const(a["source_table"]))] if not batch else []),
                   lua_str(const(a["referent_table"])), lua_value(str_list(a["local_cols"], "local_cols")),
                   lua_value(str_list(a["remote_cols"], "remote_cols")), opts_table(o))
    if fn == "create_check_constraint":
        a = call_args(call, ["constraint_name"] + T + ["condition"], fn); no_schema(a)
        rest(a, set(T) | {"constraint_name", "condition"}, fn)
        return fmt(p + "create_check_constraint", lua_value(const(a["constraint_name"])),
                   *([lua_str(const(a["table_name"]))] if not batch else []),
                   lua_str(text_of(a["condition"], "a check condition")))
    if fn == "drop_constraint":
        a = call_args(call, ["constraint_name"] + T + ["type_"], fn); no_schema(a)
        rest(a, set(T) | {"constraint_name", "type_", "if_exists"}, fn)
        o = [(k, lua_value(const(a[k]))) for k in ("type_", "if_exists") if k in a and const(a[k]) is not None]
        if const(a["constraint_name"]) is None:
            raise Untranslatable("drop_constraint(None, ...): a constraint without a name "
                                 "(Alembic fails here too; give the name the database has)")
        return fmt(p + "drop_constraint", lua_str(const(a["constraint_name"])),
                   *([lua_str(const(a["table_name"]))] if not batch else []), opts_table(o))
    if fn in ("create_table_comment", "drop_table_comment") and not batch:
        names = ["table_name", "comment"] if fn == "create_table_comment" else ["table_name"]
        a = call_args(call, names, fn); no_schema(a); rest(a, set(names) | {"existing_comment"}, fn)
        o = [("existing_comment", lua_value(const(a["existing_comment"])))] \
            if "existing_comment" in a and const(a["existing_comment"]) is not None else []
        args = [lua_str(const(a["table_name"]))] + ([lua_value(const(a["comment"]))] if "comment" in a else [])
        return fmt("op." + fn, *(args + [opts_table(o)]))
    if fn == "execute" and not batch:
        a = call_args(call, ["sqltext", "execution_options"], fn)
        rest(a, {"sqltext", "execution_options"}, fn)
        if "execution_options" in a and const(a["execution_options"]) is not None:
            raise Untranslatable("execute(execution_options=...)")
        sql = text_of(a["sqltext"], "op.execute of a string or sa.text")
        # Alembic passes a string through sa.text(): ":name" is a bind
        # parameter it has no value for, "\:" a colon
        if re.search(r"(?<![:\w\\]):\w+(?!:)", sql):
            raise Untranslatable("op.execute with a :parameter")
        sql = sql.replace("\\:", ":")
        return fmt("op.execute", lua_str(sql))
    if fn == "bulk_insert" and not batch:
        a = call_args(call, ["table", "rows", "multiinsert"], fn)
        rest(a, {"table", "rows", "multiinsert"}, fn)
        t = a["table"]
        if isinstance(t, ast.Name) and t.id in ctx.tables:
            tref, cols = t.id, ctx.tables[t.id]
        elif isinstance(t, ast.Call) and last(dotted(t.func)) == "table":
            tref, cols = sa_table(t, ctx)
        else:
            raise Untranslatable("bulk_insert into " + describe(t))
        rows = a["rows"]
        if not isinstance(rows, (ast.List, ast.Tuple)):
            raise Untranslatable("bulk_insert rows that are not a literal list")
        lines = []
        for r in rows.elts:
            if not isinstance(r, ast.Dict):
                raise Untranslatable("a bulk_insert row that is not a literal dict")
            pairs = []
            for k, v in zip(r.keys, r.values):
                if k is None:
                    raise Untranslatable("a bulk_insert row with **")
                kk = const(k)
                if kk not in cols:
                    raise Untranslatable("a bulk_insert row with column %r, not in the table" % kk)
                vv = const(v, "a literal value")
                if isinstance(vv, (list, tuple, dict)):
                    raise Untranslatable("a bulk_insert value " + describe(v))
                if vv is not None:
                    pairs.append("%s = %s" % (lua_key(kk), lua_value(vv)))
            lines.append("  {" + ", ".join(pairs) + "},\n")
        body = "{\n" + "".join(lines) + "}"
        return fmt("op.bulk_insert", tref, body, "{columns = %s}" % lua_value(cols))
    if fn == "get_bind":
        raise Untranslatable("op.get_bind(): Python code using the connection")
    raise Untranslatable("%s%s(...): no translation for this operation" % (p, fn))

# The line of the construct an Untranslatable is about: the node the
# innermost of these functions was given (not the statement's first line).
def located(fn):
    def at(node, *args, **kw):
        try:
            return fn(node, *args, **kw)
        except Untranslatable as e:
            if getattr(e, "lineno", None) is None and hasattr(node, "lineno"):
                e.lineno = node.lineno
            raise
    return at

const, text_of, type_expr, column_expr, default_expr, table_constraint, enum_parts, fk_parts = (
    located(f) for f in (const, text_of, type_expr, column_expr, default_expr, table_constraint, enum_parts, fk_parts))

# ---------------------------------------------------------------- statements

class Ctx:
    def __init__(self, path, lines):
        self.path, self.lines = path, lines
        self.enums, self.tables = {}, {}
        self.untranslated = []
        self.notes, self.pending, self.cur_line = [], [], 0

def is_bind(node):
    return isinstance(node, ast.Call) and dotted(node.func) in ("op.get_bind",) and not node.args

def enum_method(call, ctx):
    """X.create(op.get_bind(), checkfirst=...) / X.drop(...), X an enum call or variable."""
    f = call.func
    if not (isinstance(f, ast.Attribute) and f.attr in ("create", "drop")):
        return None
    target = f.value
    if isinstance(target, ast.Name) and target.id in ctx.enums:
        name, values = ctx.enums[target.id]
    elif isinstance(target, ast.Call) and last(dotted(target.func)) in ("Enum", "ENUM"):
        name, values, _ = enum_parts(target, ctx, need_values=(f.attr == "create"))
    else:
        return None
    a = call_args(call, ["bind", "checkfirst"], f.attr)
    if "bind" not in a or not is_bind(a["bind"]):
        raise Untranslatable("enum %s() on something other than op.get_bind()" % f.attr)
    cf = const(a["checkfirst"]) if "checkfirst" in a else False
    if f.attr == "create":
        return fmt("op.create_enum", lua_str(name), lua_value(values), "{if_not_exists = true}" if cf else None)
    return fmt("op.drop_enum", lua_str(name), "{if_exists = true}" if cf else None)

def quote_source(node, ctx, indent):
    first, lastl = node.lineno, getattr(node, "end_lineno", node.lineno)
    src = ctx.lines[first - 1:lastl]
    pad = min((len(l) - len(l.lstrip()) for l in src if l.strip()), default=0)
    out = ["-- not translated (%s:%d%s):" % (ctx.rel, first, "-%d" % lastl if lastl != first else "")]
    for l in src:
        out.append("--   " + l[pad:].rstrip() if l.strip() else "--")
    return out

def note(ctx, what):
    """A translated statement whose result may differ from Alembic's: a
    comment above it and an entry in the report."""
    ctx.pending.append(what)

def untranslated(node, what, ctx, line=None):
    """The statement quoted and error(...); line: where in it the construct
    is (the statement's first line when not known)."""
    line = line or node.lineno
    ctx.untranslated.append((line, what))
    lines = quote_source(node, ctx, "")
    lines.append("error(%s)" % lua_str("not translated: %s:%d: %s" % (ctx.rel, line, what)))
    return lines

def indent(lines):
    """Lines one level in; a line inside a long string (marked \\x01) stays as it is."""
    return [l if (not l or l.startswith("\x01")) else "  " + l for l in lines]

def with_block(stmt, ctx, batch):
    if len(stmt.items) != 1:
        raise Untranslatable("a with statement of several items")
    item = stmt.items[0]
    e = item.context_expr
    name = dotted(e.func) if isinstance(e, ast.Call) else None
    if name == "op.batch_alter_table" and not batch:
        a = call_args(e, ["table_name", "schema", "recreate", "partial_reordering", "copy_from",
                          "table_args", "table_kwargs", "reflect_args", "reflect_kwargs", "naming_convention"],
                      "batch_alter_table")
        no_schema(a)
        o = []
        for k, v in a.items():
            if k == "table_name":
                continue
            if k == "recreate":
                o.append(("recreate", lua_str(const(v))))
                if const(v) == "always":
                    note(ctx, "batch_alter_table(recreate='always'): Alembic rebuilds the table on PostgreSQL too "
                              "(column order, constraints made anew); luamig alters it in place there")
            elif k in ("table_kwargs", "table_args", "reflect_args", "reflect_kwargs") and \
                    isinstance(v, (ast.Dict, ast.Tuple, ast.List)) and not getattr(v, "keys", getattr(v, "elts", None)):
                pass
            else:
                raise Untranslatable("batch_alter_table(%s=...)" % k)
        var = item.optional_vars.id if isinstance(item.optional_vars, ast.Name) else None
        if var is None:
            raise Untranslatable("batch_alter_table without 'as NAME'")
        inner = body_lines(stmt.body, ctx, batch=var)
        head = "op.batch_alter_table(%s, function(%s)" % (lua_str(const(a["table_name"])), var)
        return [head] + indent(inner) + ["end%s)" % ((", " + opts_table(o)) if o else "")]
    if isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and e.func.attr == "autocommit_block" \
            and isinstance(e.func.value, ast.Call) and dotted(e.func.value.func) in ("op.get_context",) \
            and not batch and item.optional_vars is None:
        inner = body_lines(stmt.body, ctx, batch=None)
        return ["op.autocommit_block(function()"] + indent(inner) + ["end)"]
    raise Untranslatable("with " + describe(e))

def stmt_lines(stmt, ctx, batch):
    if isinstance(stmt, ast.Pass):
        return []
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
        return ["-- " + l if l.strip() else "--" for l in stmt.value.value.strip().splitlines()]
    if isinstance(stmt, ast.With):
        return with_block(stmt, ctx, batch)
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
            and isinstance(stmt.value, ast.Call):
        var, f = stmt.targets[0].id, last(dotted(stmt.value.func))
        if f in ("Enum", "ENUM"):
            name, values, create_type = enum_parts(stmt.value, ctx)
            if var in KEYWORDS: raise Untranslatable("a variable named " + var)
            ctx.enums[var] = (name, values)
            return ["local %s = %s" % (var, enum_expr(stmt.value, ctx))]
        name = dotted(stmt.value.func)
        if name and name.startswith("op.") and name.count(".") == 1 and var not in KEYWORDS:
            lines = translate_op(name[3:], stmt.value, ctx).split("\n")
            return ["local %s = %s" % (var, lines[0])] + lines[1:]
        if f == "table":
            tref, cols = sa_table(stmt.value, ctx)
            if var in KEYWORDS: raise Untranslatable("a variable named " + var)
            ctx.tables[var] = cols
            return ["local %s = %s" % (var, tref)]
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        name = dotted(call.func)
        if batch and name and name.startswith(batch + ".") and name.count(".") == 1:
            return translate_op(name.split(".")[1], call, ctx, batch=batch).split("\n")
        if name and name.startswith("op.") and name.count(".") == 1:
            return translate_op(name[3:], call, ctx).split("\n")
        em = enum_method(call, ctx)
        if em:
            return [em]
        raise Untranslatable("a call of " + describe(call.func) + "(...)")
    kinds = {ast.For: "a for loop", ast.While: "a while loop", ast.If: "an if statement",
             ast.Assign: "an assignment", ast.Try: "a try statement", ast.FunctionDef: "a function definition",
             ast.Import: "an import", ast.ImportFrom: "an import", ast.Return: "a return"}
    raise Untranslatable(kinds.get(type(stmt), "a " + type(stmt).__name__ + " statement") +
                         ((": " + describe(stmt.targets[0]) + " = " + describe(stmt.value)) if isinstance(stmt, ast.Assign) else ""))

def comments_before(line, ctx):
    """The Python comments on their own lines before line, not yet emitted."""
    out = []
    for n in sorted(ctx.comments):
        if n < line and n > ctx.comment_done:
            text = ctx.comments[n]
            if not re.match(r"^#\s*###.*(Alembic|end Alembic).*###\s*$", text):
                out.append("--" + text[1:] if text[1:2] in (" ", "") else "-- " + text[1:])
    ctx.comment_done = max(ctx.comment_done, line)
    return out

def body_lines(stmts, ctx, batch=None):
    out = []
    for i, s in enumerate(stmts):
        # a blank line between two statements stays
        if i > 0 and any(not l.strip() for l in ctx.lines[stmts[i - 1].end_lineno:s.lineno - 1]) and out:
            out.append("")
        out += comments_before(s.lineno, ctx)
        ctx.comment_done = max(ctx.comment_done, getattr(s, "end_lineno", s.lineno))
        outer = ctx.pending
        ctx.pending = []
        try:
            lines = stmt_lines(s, ctx, batch)
            ctx.notes += [(s.lineno, w) for w in ctx.pending]
            out += ["-- note (%s:%d): %s" % (ctx.rel, s.lineno, w) for w in ctx.pending] + lines
        except Untranslatable as e:
            out += untranslated(s, str(e), ctx, getattr(e, "lineno", None))
        ctx.pending = outer
    return out

# ---------------------------------------------------------------- a file

def header_value(tree, name):
    for node in tree.body:
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target, value = node.target.id, node.value
        if target == name:
            try:
                return True, ast.literal_eval(value), node.lineno
            except Exception:
                return True, Untranslatable, node.lineno
    return False, None, None

def bound_names(node):
    """The module-level names a statement binds."""
    names = set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names.add(node.name)
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        names.update((a.asname or a.name).split(".")[0] for a in node.names)
    else:
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                names.add(n.id)
    return names

def one_file(path, rel):
    out = {"path": path, "rel": rel}
    raw = open(path, "rb").read()
    try:
        tree = ast.parse(raw, filename=rel)   # bytes: Python's own encoding rules (cookie, BOM)
        with tokenize.open(path) as f:
            src = f.read()
    except SyntaxError as e:
        line = e.lineno
        if line is None:            # a NUL byte: Python names no line
            line = raw[:raw.index(b"\0")].count(b"\n") + 1 if b"\0" in raw else 1
        out["syntax_error"] = "%s:%s: %s" % (rel, line, e.msg)
        return out
    # Python's lines: src has universal newlines; str.splitlines would also
    # split at \f, \v, \x1c-\x1e, \x85, \u2028, \u2029 and shift every line after
    lines = src.split("\n")
    comments = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type == tokenize.COMMENT and not lines[tok.start[0] - 1][:tok.start[1]].strip():
                comments[tok.start[0]] = tok.string
    except (tokenize.TokenError, SyntaxError):
        pass
    doc = ast.get_docstring(tree, clean=False) or ""
    for key in ("revision", "down_revision", "branch_labels", "depends_on"):
        found, value, line = header_value(tree, key)
        if found and value is Untranslatable:
            out["header_error"] = "%s:%d: %s is not a literal value" % (rel, line, key)
            return out
        if isinstance(value, str) and key != "revision":
            value = [value]
        if key == "revision" and found and not isinstance(value, str):
            out["header_error"] = "%s:%d: revision must be a string" % (rel, line)
            return out
        if key != "revision" and value is not None:
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                out["header_error"] = "%s:%d: %s must be a string or a tuple of strings" % (rel, line, key)
                return out
            value = list(value)
        if found:
            out[key] = value
            out.setdefault("lines", {})[key] = line
    m = re.search(r"^\s*Create Date:\s*(.*?)\s*$", doc, re.M)
    if m:
        out["create_date"] = m.group(1)
    message = re.split(r"\n\s*\n|\n\s*Revision ID:", doc.strip(), maxsplit=1)[0].strip() if doc.strip() else ""
    if message.startswith("Revision ID:"):
        message = ""
    out["message"] = message
    ctx = Ctx(path, lines)
    ctx.rel = rel
    ctx.imports = module_imports(tree)
    ctx.comments = comments
    for fn in ("upgrade", "downgrade"):
        defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == fn]
        if not defs:
            # Alembic fails on this step (AttributeError): so does the script
            what = "%s() is missing: Alembic fails on this step" % fn
            ctx.untranslated.append((1, what))
            out[fn] = "error(%s)" % lua_str("not translated: %s:1: %s" % (rel, what))
            continue
        d = defs[-1]
        # what the module runs is not the body as written: a decorator, an
        # async def, or the name bound again after the def
        rebound = [n for n in tree.body if n.lineno > d.lineno and fn in bound_names(n)]
        if d.decorator_list or isinstance(d, ast.AsyncFunctionDef) or rebound:
            node = d.decorator_list[0] if d.decorator_list else (rebound[0] if rebound else d)
            what = ("%s() has the decorator @%s: the function Alembic runs is not its body" % (fn, describe(node))
                    if d.decorator_list else
                    "%s is bound again at line %d: the function Alembic runs is not this body" % (fn, node.lineno)
                    if rebound else "%s() is an async def" % fn)
            ctx.comment_done = getattr(d, "end_lineno", d.lineno)
            out[fn] = "\n".join(untranslated(node, what, ctx))
            continue
        ctx.comment_done = d.lineno
        ctx.enums, ctx.tables = {}, {}
        # module-level enum and table definitions are visible in the bodies
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                    and isinstance(node.value, ast.Call) and last(dotted(node.value.func)) in ("Enum", "ENUM", "table"):
                try:
                    stmt_lines(node, ctx, None)
                except Untranslatable:
                    pass
        pre = []
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                    and (node.targets[0].id in ctx.enums or node.targets[0].id in ctx.tables) \
                    and any(isinstance(x, ast.Name) and x.id == node.targets[0].id for x in ast.walk(d)):
                pre += stmt_lines(node, ctx, None)
        lines_out = pre + body_lines(d.body, ctx)
        lines_out += comments_before(getattr(d, "end_lineno", d.lineno) + 1, ctx)
        out[fn] = "\n".join(lines_out)
    out["untranslated"] = sorted(set(ctx.untranslated))
    out["notes"] = sorted(set(ctx.notes))
    return out

# ---------------------------------------------------------------- output

def lua(v):
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (lua_key(k), lua(x)) for k, x in sorted(v.items()) if x is not None) + "}"
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(lua(x) for x in v) + "}"
    if isinstance(v, str):
        # a data string: short form only, every byte safe
        return '"' + "".join(c if (" " <= c <= "~" and c not in '"\\') or ord(c) > 127 else "\\%03d" % ord(c)
                             for c in v).encode("utf-8", "surrogatepass").decode("utf-8", "replace") + '"'
    return lua_value(v)

def main():
    files = sys.argv[1:]
    result = []
    for f in files:
        rel = f
        rel = os.path.basename(os.path.dirname(os.path.abspath(f))) + "/" + os.path.basename(f)
        # rel goes into the scripts' comments: no line break nor control character in it
        rel = re.sub(r"[\x00-\x1f\x7f]", lambda m: "\\%03d" % ord(m.group()), rel)
        try:
            result.append(one_file(f, rel))
        except (UnicodeDecodeError, OSError) as e:
            result.append({"path": f, "read_error": str(e)})
        except (RecursionError, MemoryError):
            result.append({"path": f, "rel": rel, "header_error": "%s: an expression nested too deeply for "
                           "Python's parser (RecursionError): split it, or translate the file by hand" % rel})
    sys.stdout.write("return " + lua(result) + "\n")

main()
]==]
