import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * WSO2's reference artifacts (shared/reference/wso2), which live beside the repository rather than in it:
 * the real files obkit's components must accept. Tests that read them skip with a reason when absent.
 */
export const WSO2_REFERENCE = join(import.meta.dirname, '..', '..', '..', 'shared', 'reference', 'wso2');

export const wso2Reference = (file: string): string => join(WSO2_REFERENCE, file);

export const hasWso2Reference = existsSync(WSO2_REFERENCE);
