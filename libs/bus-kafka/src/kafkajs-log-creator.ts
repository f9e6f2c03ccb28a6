import type { Logger } from "@mlzero/logging";
import { logLevel, type logCreator } from "kafkajs";

const BOUNDED_RETRIES_WARNING = "Limiting retries for the idempotent producer may invalidate EoS guarantees";

/**
 * Routes kafkajs's own log lines into the service's logger. kafkajs logs
 * retriable protocol errors (a coordinator still loading, a rebalance) at
 * ERROR, and recovers from them; a failure that matters reaches the bus as a
 * rejected call or a crash event, which the bus logs as an error itself. So
 * its ERROR and WARN lines become warnings and its INFO lines debug.
 */
export function kafkajsLogCreator(logger: Logger): logCreator {
  const log = logger.child({ component: "kafkajs" });
  return () =>
    ({ namespace, level, log: entry }) => {
      const { message, timestamp: _timestamp, logger: _logger, ...fields } = entry;
      // Said by every idempotent producer with bounded retries, as the bus's
      // is on purpose (a publish fails after about 40 s rather than hanging;
      // a repeat it causes is one more at-least-once redelivery).
      if (message === BOUNDED_RETRIES_WARNING) return;
      const line = { namespace, ...fields };
      if (level <= logLevel.WARN) log.warn(line, message);
      else if (level === logLevel.INFO) log.debug(line, message);
      else log.trace(line, message);
    };
}
