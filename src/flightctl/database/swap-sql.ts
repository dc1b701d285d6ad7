/**
 * The SQL of the database swap, built as text for psql running as the superuser inside the
 * database's container. Names are quoted as identifiers and as literals here, in one place; they
 * come from the configuration (the database name) and from a random hex suffix.
 */

/** PostgreSQL truncates identifiers longer than this; a truncated name would hit the wrong database. */
const MAX_IDENTIFIER = 63;

export interface SwapNames {
  live: string;
  temp: string;
  old: string;
}

/** `<db>_restore_<id>` and `<db>_old_<id>`, the names Flight Control's own restore uses. */
export function swapNames(live: string, suffix: string): SwapNames {
  const names = { live, temp: `${live}_restore_${suffix}`, old: `${live}_old_${suffix}` };
  for (const n of Object.values(names)) {
    if (Buffer.byteLength(n) > MAX_IDENTIFIER) throw new Error(`database name ${n} is longer than PostgreSQL's ${MAX_IDENTIFIER} bytes`);
  }
  return names;
}

export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * The temporary database gets the live one's owner, encoding and locale, from template0 as a
 * dump expects: Flight Control's user keeps its rights on the restored database.
 */
export function createTempDatabaseSql(names: SwapNames): string {
  return `SELECT format('CREATE DATABASE %I WITH TEMPLATE template0 OWNER %I ENCODING %L LC_COLLATE %L LC_CTYPE %L',
    ${literal(names.temp)}, pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype)
  FROM pg_database WHERE datname = ${literal(names.live)} \\gexec\n`;
}

/**
 * Both renames in one transaction, so `<db>` always exists and is either the old or the new
 * database, whatever happens (a crash included). Sessions on the live database are terminated
 * first; one that reconnects, or is slow to go, makes the rename fail with object_in_use (55006),
 * which is retried until the deadline.
 */
export function swapSql(names: SwapNames, timeoutMs: number): string {
  const live = literal(names.live);
  return `DO $swap$
DECLARE deadline timestamptz := clock_timestamp() + make_interval(secs => ${Math.max(1, Math.round(timeoutMs / 1000))});
BEGIN
  LOOP
    PERFORM pg_stat_clear_snapshot();
    -- Only sessions this user may end (a superuser any; others their own roles' unless pg_signal_backend):
    -- an external database's application user gets no error for another role's session, just object_in_use.
    PERFORM pg_terminate_backend(a.pid) FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid
      WHERE a.datname = ${live} AND a.pid <> pg_backend_pid()
        AND ((SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
          OR (NOT coalesce(r.rolsuper, false) AND (pg_has_role(a.usesysid, 'USAGE') OR pg_has_role('pg_signal_backend', 'USAGE'))));
    BEGIN
      EXECUTE format('ALTER DATABASE %I RENAME TO %I', ${live}, ${literal(names.old)});
      EXECUTE format('ALTER DATABASE %I RENAME TO %I', ${literal(names.temp)}, ${live});
      RETURN;
    EXCEPTION WHEN object_in_use THEN
      IF clock_timestamp() > deadline THEN RAISE; END IF;
      PERFORM pg_sleep(0.05);
    END;
  END LOOP;
END $swap$;\n`;
}

export function dropDatabaseSql(name: string): string {
  return `DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE);\n`;
}

/** Which of the names exist, one per line. */
export function existingDatabasesSql(names: string[]): string {
  return `SELECT datname FROM pg_database WHERE datname = ANY(ARRAY[${names.map(literal).join(', ')}]::text[]) ORDER BY 1;\n`;
}

/**
 * What loading a dump beside the live database and renaming the two needs of the user that does
 * it: CREATEDB (a superuser has it all), and being the live database's owner or a member of its
 * role (ALTER DATABASE RENAME, CREATE DATABASE ... OWNER). One row: super|createdb|owner|ownerName.
 */
export function loadPrivilegesSql(database: string): string {
  return `SELECT r.rolsuper, r.rolcreatedb, pg_has_role(d.datdba, 'USAGE'), pg_get_userbyid(d.datdba), current_user
  FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = ${literal(database)};\n`;
}

/** The privileges the row of loadPrivilegesSql says are missing, in words an operator can grant. */
export function parseLoadPrivileges(row: string, database: string): string[] {
  const [isSuper, createdb, owner, ownerName, user] = row.split('|');
  if (isSuper === 't') return [];
  const missing: string[] = [];
  if (createdb !== 't') missing.push(`CREATEDB (ALTER ROLE ${user ?? 'the user'} CREATEDB)`);
  if (owner !== 't')
    missing.push(`ownership of database ${database}, owned by ${ownerName ?? 'another role'} (GRANT ${ownerName ?? 'its owner'} TO ${user ?? 'the user'})`);
  return missing;
}
