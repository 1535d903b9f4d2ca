-- Least-privilege roles for dispatch-due (docs/contract.md §5, "Database roles").
--
--   dispatch_due_migrator    owns the schema objects: runs `dispatch-due migrate` (creates and
--                            alters the tables, the row trigger and schema_migrations).
--   dispatch_due_dispatcher  runs `dispatch-due run`, `backfill` and `status`: reads and
--                            writes rows of the two tables, reads schema_migrations, and can
--                            create, alter or drop nothing.
--
-- Apply as a superuser or the database owner, in the database that holds (or will hold) the
-- tables, with psql:
--
--   psql -v ON_ERROR_STOP=1 -d agents -f deploy/sql/roles.sql
--
-- It takes no parameters and is idempotent: apply it before the first `migrate` (it creates
-- the roles and lets the migrator create tables), and again after every `migrate` that adds
-- a table (it grants on the tables that exist now; a column added to an existing table needs
-- nothing). Tables created by another role before this file existed are handed over to the
-- migrator. Roles are cluster-wide; the grants are per database.
--
-- The roles are created without a password (LOGIN only). Give each one its credential the way
-- your cluster authenticates, outside this file, e.g. in psql: \password dispatch_due_dispatcher
-- (or certificate authentication: a client certificate whose CN is the role name).
--
-- Who writes triggers (the CLI's `triggers` and `invocations` commands, a management API)
-- needs more than the dispatcher: INSERT and DELETE on scheduled_triggers, INSERT and UPDATE on
-- scheduled_trigger_invocations. Grant that to that writer's own role, not to the dispatcher.

-- Roles. A concurrent first apply in another database may create the same role at the same
-- moment: both errors mean "it exists now", which is all this block wants.
DO $roles$
DECLARE
    wanted text;
BEGIN
    FOREACH wanted IN ARRAY ARRAY['dispatch_due_migrator', 'dispatch_due_dispatcher'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = wanted) THEN
            BEGIN
                -- NOINHERIT/NOCREATEDB/NOCREATEROLE are the defaults, spelt out: neither role
                -- may create databases, roles, or borrow another role's rights.
                EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', wanted);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$roles$;

-- Both connect to this database; nobody else needs to, but PUBLIC's default CONNECT is the
-- cluster owner's choice, so it is left as it is.
DO $connect$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO dispatch_due_migrator, dispatch_due_dispatcher',
                   current_database());
END
$connect$;

-- The tables live in the public schema (the binary uses unqualified names). The migrator may
-- create in it; the dispatcher may only look names up. (PostgreSQL 15 no longer lets PUBLIC
-- create there; before 15 it still can: REVOKE CREATE ON SCHEMA public FROM PUBLIC if you rely
-- on the dispatcher being unable to create tables.)
GRANT USAGE, CREATE ON SCHEMA public TO dispatch_due_migrator;
GRANT USAGE ON SCHEMA public TO dispatch_due_dispatcher;

-- Hand existing objects to the migrator, and grant the dispatcher exactly what a cycle does:
--   scheduled_triggers             SELECT (due and unhealed rows), UPDATE (next_run_at,
--                                  schedule_error; FOR UPDATE row locks need it too)
--   scheduled_trigger_invocations  SELECT, INSERT (record slots), UPDATE (lease, outcome),
--                                  DELETE (retention: finished invocations past --retention)
--   schema_migrations              SELECT (the binary checks the schema version)
-- No TRUNCATE anywhere, and no DELETE on triggers: a cycle never removes a schedule.
DO $grants$
BEGIN
    IF to_regclass('public.schema_migrations') IS NOT NULL THEN
        ALTER TABLE public.schema_migrations OWNER TO dispatch_due_migrator;
        GRANT SELECT ON public.schema_migrations TO dispatch_due_dispatcher;
    END IF;
    IF to_regclass('public.scheduled_triggers') IS NOT NULL THEN
        ALTER TABLE public.scheduled_triggers OWNER TO dispatch_due_migrator;
        GRANT SELECT, UPDATE ON public.scheduled_triggers TO dispatch_due_dispatcher;
    END IF;
    IF to_regclass('public.scheduled_trigger_invocations') IS NOT NULL THEN
        ALTER TABLE public.scheduled_trigger_invocations OWNER TO dispatch_due_migrator;
        GRANT SELECT, INSERT, UPDATE, DELETE ON public.scheduled_trigger_invocations TO dispatch_due_dispatcher;
    END IF;
    -- The row trigger's function (it runs with the privileges of whoever updates the row, so
    -- the dispatcher needs nothing on it); owned by the migrator so a migration may replace it.
    IF to_regprocedure('public.scheduled_triggers_reset_schedule()') IS NOT NULL THEN
        ALTER FUNCTION public.scheduled_triggers_reset_schedule() OWNER TO dispatch_due_migrator;
    END IF;
END
$grants$;
