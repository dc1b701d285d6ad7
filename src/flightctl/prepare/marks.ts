/** The exact marks Flight Control's server reads after a restore (FLIGHTCTL.md §3). */
export const AWAITING_RECONNECT_ANNOTATION = 'device-controller/awaitingReconnect';
export const AWAITING_RECONNECT_INFO = 'Device has not reconnected since restore to confirm its current state.';
export const DEFAULT_ORG_ID = '00000000-0000-0000-0000-000000000000';

export function awaitingReconnectKey(orgId: string, deviceName: string): string {
  return `v1/${orgId}/device/${deviceName}/awaiting-reconnect`;
}

export function systemRestoredMessage(devicesUpdated: number): string {
  return `System restored successfully. Updated ${devicesUpdated} devices for post-restoration preparation.`;
}
