/**
 * Where WSO2 Identity Server (with the Open Banking accelerator) serves what obkit's identity server
 * serves too: the scripts call these paths on either, the identity server mounts its routes on them.
 */

/** The CDR DCR endpoint's mount: POST /register, GET|PUT|DELETE /register/{ClientId} below it. */
export const DCR_MOUNT = '/api/openbanking/dynamic-client-registration';
/** Where a recipient registers (the DCR API's backend, behind the gateway's `/open-banking/0.2/register`). */
export const REGISTRATION_PATH = `${DCR_MOUNT}/register`;
