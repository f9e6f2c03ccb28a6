/**
 * Every `mlzero_*` family the services record (docs/observability.md), as a
 * scrape must show them: for tests that check an endpoint serves them all.
 */
export const MLZERO_METRIC_FAMILIES = [
  "mlzero_tasks",
  "mlzero_tasks_submitted_total",
  "mlzero_tasks_finished_total",
  "mlzero_task_duration_seconds",
  "mlzero_stage_duration_seconds",
  "mlzero_event_handler_duration_seconds",
  "mlzero_bus_event_age_seconds",
  "mlzero_bus_consumer_lag",
  "mlzero_queue_depth",
  "mlzero_executor_runs_active",
  "mlzero_llm_tokens_total",
  "mlzero_llm_cost_usd_total",
  "mlzero_llm_calls_total",
  "mlzero_rpc_duration_seconds",
] as const;
