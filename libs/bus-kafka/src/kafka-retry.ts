import type { RetryOptions } from "kafkajs";

/**
 * Patience for every request: about 40 s of retries before a call fails (a
 * consumer then restarts by itself), long enough to ride out a broker restart.
 */
export const KAFKA_RETRY: RetryOptions = { initialRetryTime: 250, maxRetryTime: 5_000, retries: 12 };
