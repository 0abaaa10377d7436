/* Text forms of plan options shared by the sim, claim and cost commands. Each returns 0, or -1 with an error
   that names the flag and the value. */
#ifndef FP8LAB_SIM_PLAN_PARSE_H
#define FP8LAB_SIM_PLAN_PARSE_H
#include "sim/step.h"

int fp8lab_parse_schedule(const char *s, fp8lab_plan *p);   /* 1f1b | interleaved:V | dualpipe | zb-h1 */
int fp8lab_parse_recompute(const char *s, fp8lab_plan *p);  /* none | selective | full */
int fp8lab_parse_precision(const char *s, fp8lab_plan *p);  /* bf16 | fp16 | fp8 | fp32 */
int fp8lab_parse_attention(const char *s, fp8lab_plan *p);  /* flash3 | flash2 | cudnn | unfused */
int fp8lab_parse_tp_overlap(const char *s, fp8lab_plan *p); /* wgrad | userbuffers | none */
int fp8lab_parse_loss(const char *s, fp8lab_plan *p);       /* fused | megatron | torch */
const char *fp8lab_attention_name(int attn_impl);
const char *fp8lab_tp_overlap_name(int tp_overlap);
const char *fp8lab_loss_name(fp8lab_loss loss);
const char *fp8lab_schedule_name(const fp8lab_plan *p, char *buf, int cap);
const char *fp8lab_recompute_name(fp8lab_recompute r);

#endif
