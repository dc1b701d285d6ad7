/**
 * A fixture that mirrors the tables of Flight Control's PostgreSQL schema that the preparation
 * touches, in two generations: "current" (last_seen in device_timestamps, as since 1.0) and
 * "legacy" (last_seen as a column of devices). Indexes and triggers follow upstream's GORM
 * model, because they decide how expensive the device update is: GIN on labels, annotations and
 * status, a trigram GIN on alias, and the device_labels sync trigger.
 */
export type SchemaGeneration = 'current' | 'legacy';

const RESOURCE_COLUMNS = `
  org_id uuid NOT NULL REFERENCES organizations(id),
  name text NOT NULL,
  owner text,
  labels jsonb,
  annotations jsonb,
  generation bigint,
  resource_version bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz`;

export function flightctlSchemaSql(generation: SchemaGeneration): string {
  const legacy = generation === 'legacy';
  return `
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE organizations (
  id uuid PRIMARY KEY, display_name text, external_id text,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO organizations (id, display_name) VALUES ('00000000-0000-0000-0000-000000000000', 'Default');

CREATE TABLE devices (${RESOURCE_COLUMNS},
  alias text, spec jsonb, status jsonb, service_conditions jsonb, rendered_config jsonb,
  render_timestamp timestamptz, rendered_applications jsonb${legacy ? ',\n  last_seen timestamptz' : ''},
  PRIMARY KEY (org_id, name));
CREATE INDEX idx_devices_org_name ON devices (org_id, name);
CREATE INDEX owner_idx ON devices (owner);
CREATE INDEX idx_devices_deleted_at ON devices (deleted_at);
CREATE INDEX idx_device_labels ON devices USING gin (labels);
CREATE INDEX idx_device_annotations ON devices USING gin (annotations);
CREATE INDEX idx_device_status ON devices USING gin (status);
CREATE INDEX idx_device_name ON devices (name);
CREATE INDEX idx_device_alias ON devices (alias);
CREATE INDEX idx_device_alias_trgm ON devices USING gin (alias gin_trgm_ops);

CREATE TABLE device_labels (
  org_id uuid NOT NULL, device_name text NOT NULL, label_key text NOT NULL, label_value text,
  PRIMARY KEY (org_id, device_name, label_key));
CREATE FUNCTION sync_device_labels() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM device_labels WHERE org_id = NEW.org_id AND device_name = NEW.name;
  INSERT INTO device_labels (org_id, device_name, label_key, label_value)
    SELECT NEW.org_id, NEW.name, key, value FROM jsonb_each_text(COALESCE(NEW.labels, '{}'::jsonb));
  RETURN NEW;
END $$;
CREATE TRIGGER device_labels_insert AFTER INSERT ON devices FOR EACH ROW EXECUTE FUNCTION sync_device_labels();
CREATE TRIGGER device_labels_update AFTER UPDATE OF labels ON devices FOR EACH ROW
  WHEN (OLD.labels IS DISTINCT FROM NEW.labels) EXECUTE FUNCTION sync_device_labels();
${
  legacy
    ? ''
    : `
CREATE TABLE device_timestamps (
  org_id uuid NOT NULL, name text NOT NULL, last_seen timestamptz,
  PRIMARY KEY (org_id, name),
  FOREIGN KEY (org_id, name) REFERENCES devices (org_id, name) ON DELETE CASCADE);
CREATE FUNCTION device_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO device_timestamps (org_id, name) VALUES (NEW.org_id, NEW.name) ON CONFLICT DO NOTHING;
  RETURN NEW;
END $$;
CREATE TRIGGER device_after_insert AFTER INSERT ON devices FOR EACH ROW EXECUTE FUNCTION device_after_insert();`
}

CREATE TABLE enrollment_requests (${RESOURCE_COLUMNS}, spec jsonb, status jsonb, PRIMARY KEY (org_id, name));
CREATE INDEX enrollment_requests_labels ON enrollment_requests USING gin (labels);

CREATE TABLE fleets (${RESOURCE_COLUMNS}, spec jsonb, status jsonb, PRIMARY KEY (org_id, name));

CREATE TABLE events (${RESOURCE_COLUMNS},
  reason text, source_component text, actor text, type text, message text, details jsonb,
  involved_object_name text, involved_object_kind text,
  PRIMARY KEY (org_id, name));
CREATE INDEX idx_events_reason ON events (reason);
CREATE INDEX idx_events_type ON events (type);
CREATE INDEX idx_involved_object ON events (involved_object_name, involved_object_kind);
`;
}
