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
    PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${live} AND pid <> pg_backend_pid();
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
