import { z } from 'zod';

/**
 * Business-plan usage shared by the gateway replicas through api-manager: each replica posts the
 * requests it admitted per subscription since its last report and gets back every replica's count in
 * the shared window (api-manager's `abuse_counters` table), so together they admit one plan, not N.
 */
export const PLAN_USAGE_PATH = '/internal/gateway/v1/plan-usage';

/** More windows than one report may carry are refused (400): a report is one replica's active keys. */
export const MAX_REPORTED_WINDOWS = 10_000;

export const planUsageReportSchema = z.strictObject({
  windows: z
    .array(
      z.strictObject({
        /** The subscription: application and API ids. */
        key: z.string().min(1).max(300),
        /** Requests admitted since the last report (0: only asking for the count). */
        hits: z.number().int().min(0).max(1_000_000),
        /** The plan's window, for a window that opens with this report. */
        windowMs: z
          .number()
          .int()
          .min(1000)
          .max(366 * 86_400_000),
      }),
    )
    .max(MAX_REPORTED_WINDOWS),
});
export type PlanUsageReport = z.infer<typeof planUsageReportSchema>;

export const planUsageAnswerSchema = z.strictObject({
  windows: z.array(
    z.strictObject({
      key: z.string(),
      /** Every replica's requests in the window. */
      count: z.number().int().min(0),
      /** When the shared window ends (epoch ms, api-manager's clock). */
      expiresAt: z.number(),
    }),
  ),
});
export type PlanUsageAnswer = z.infer<typeof planUsageAnswerSchema>;
