import type { Command } from 'commander';

/** Options every Quadlets-host command takes (config keys under `host:`). */
export function hostOptions(cmd: Command): Command {
  return cmd
    .option('--dbus-address <addr>', 'D-Bus address of systemd (default: DBUS_SYSTEM_BUS_ADDRESS, else the system bus)')
    .option('--podman-socket <path>', 'Podman API socket (default /run/podman/podman.sock)')
    .option('--podman-root <dir>', "Podman's storage root, for the secrets file driver (default /var/lib/containers/storage)")
    .option('--dropin-dir <dir>', 'where publish drop-ins are written (default /run/containers/systemd)')
    .option('--quadlet-dirs <dirs>', 'quadlet search dirs, colon-separated, highest precedence first')
    .option('--state-dir <dir>', 'where what must be undone is recorded (default /var/lib/flightctl-restore-agent)')
    .option('--unit-timeout-ms <ms>', 'how long to wait for one unit job (default 120000)')
    .option('--flightctl-etc <dir>', "Flight Control's configuration directory: pki/, encryption/, service-config.yaml (default /etc/flightctl)")
    .option('--config <file>', 'YAML configuration file')
    .option('--json', 'print one JSON document');
}
