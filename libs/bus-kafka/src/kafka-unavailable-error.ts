import { DomainError } from "@mlzero/errors";

/** The bus cannot reach its Kafka brokers (at start, or past every retry). */
export class KafkaUnavailableError extends DomainError {
  constructor(brokers: readonly string[], options?: { cause?: unknown }) {
    super("unavailable", `cannot reach Kafka at ${brokers.join(",")}`, options);
  }
}
