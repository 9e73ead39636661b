// Where the handler puts things unless told otherwise (ecfs install's default prefix).

export const DEFAULT_PREFIX = "/opt/ecfs";
export const DEFAULT_CORES = `${DEFAULT_PREFIX}/cores`;
export const DEFAULT_LOG = `${DEFAULT_PREFIX}/ecfs.log`;
export const DEFAULT_SYSLOG = "/dev/log";
/** Seconds after which the handler gives up (SIGALRM), so no crash waits on it for ever. */
export const DEFAULT_TIMEOUT = 600;
