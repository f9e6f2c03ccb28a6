// The Apache Kafka broker for cross-service tests. Its one implementation
// lives in libs/bus-kafka, whose own tests need it too and which cannot
// import from tests/.
export { startKafkaBroker, type KafkaBroker, type KafkaBrokerOptions } from "@mlzero/bus-kafka/broker";
