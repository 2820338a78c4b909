-- bench/alembic_tree.lua -- the fixed files of the benchmarks' Alembic
-- projects (bench/gen.lua, bench/realhist/gen.lua): alembic.ini, env.py and
-- script.py.mako, Alembic's generic template with env.py taking the URL
-- (-x url=...) and the transaction mode (-x tpm=0|1). On SQLite env.py
-- applies SQLAlchemy's recipe for real transactions (pysqlite otherwise
-- autocommits DDL), so that Alembic runs the same transactions as luamig.
--
--   local alembic_tree = dofile(<bench dir> .. "/alembic_tree.lua")
--   alembic_tree.write(aroot, {tpm = "1", naming_convention = false})
--
-- opts.tpm: what -x tpm is when not given ("1": a transaction per
-- migration; "0": one for the run). opts.naming_convention: the metadata
-- names constraints by Alembic's recommended convention (pk_<table>, ...,
-- luamig's default) instead of leaving them to the database.

local M = {}

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- The logging config is read by logging.config.fileConfig, which takes
-- the formatter's text raw: "%%" there would print as it stands.
local INI = [[
[alembic]
script_location = %(here)s
sqlalchemy.url = sqlite:///unused.db

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console
qualname =

[logger_sqlalchemy]
level = WARN
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
]]

local NAMING = [[MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})]]

-- TPM and METADATA are filled in by write (plain replacements: the text
-- holds Python's own % formats).
local ENV = [[
from logging.config import fileConfig

from alembic import context
from sqlalchemy import MetaData, create_engine, event, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

x = context.get_x_argument(as_dictionary=True)
url = x.get("url") or config.get_main_option("sqlalchemy.url")
per_migration = x.get("tpm", "TPM") == "1"

target_metadata = METADATA


def run_migrations_offline():
    context.configure(url=url, literal_binds=True, target_metadata=target_metadata,
                      transaction_per_migration=per_migration)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    engine = create_engine(url, poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        # SQLAlchemy's recipe: let BEGIN/COMMIT cover DDL on pysqlite
        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, connection_record):
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN")

    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            transactional_ddl=True,
            transaction_per_migration=per_migration,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
]]

local MAKO = [[
"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade():
    ${upgrades if upgrades else "pass"}


def downgrade():
    ${downgrades if downgrades else "pass"}
]]

-- Writes the three files into aroot (which exists).
function M.write(aroot, opts)
  assert(opts.tpm == "0" or opts.tpm == "1", "alembic_tree: opts.tpm is \"0\" or \"1\"")
  local env = ENV:gsub("TPM", opts.tpm, 1)
  env = env:gsub("METADATA", function() return opts.naming_convention and NAMING or "None" end, 1)
  write(aroot .. "/alembic.ini", INI)
  write(aroot .. "/env.py", env)
  write(aroot .. "/script.py.mako", MAKO)
end

return M
