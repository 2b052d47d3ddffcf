"""VBench (T2V, 16 dimensions) over a folder of generated videos: `omninft-bench run vbench`.

Scorer contract (what the served scorers return so the runner can form the reference's aggregates)
--------------------------------------------------------------------------------------------------
One served scorer per dimension, named `vbench_<dimension>`. It receives one video per sample (file:// URI or
container bytes) and, as `Sample.prompt`, the dimension's *condition* (below). It returns per-video sufficient
statistics; the runner forms every per-video field of the reference's `<name>_eval_results.json` and every
aggregate from them (`aggregate.py`), weighting per frame pair or per frame where the reference does.

Score outputs (float64 on the wire; counts are whole numbers, flags are 0.0/1.0). On the wire each output name
carries its dimension as a prefix, `<dimension>_<field>` (e.g. `subject_consistency_video_sim`,
`dynamic_degree_video_results`), because the scores of all scorers in one request share a single map; the table
lists the fields:

| scorer | outputs | per-video record the runner writes | aggregate |
|---|---|---|---|
| vbench_subject_consistency | video_sim (Σ_t s_t), cnt_per_video (N−1) | video_results = sim/cnt | Σ sim / Σ cnt |
| vbench_background_consistency | video_sim, cnt_per_video | + video_sim, cnt_per_video | Σ sim / Σ cnt |
| vbench_temporal_flickering | video_results | video_results | np.mean |
| vbench_motion_smoothness | video_results | video_results | np.mean |
| vbench_dynamic_degree | video_results (1.0 dynamic / 0.0) | video_results: bool | np.mean |
| vbench_aesthetic_quality | video_results (mean of aes/10) | video_results | Σ / n |
| vbench_imaging_quality | video_results (mean frame MOS, 0–100) | video_results (0–100) | Σ / n / 100 |
| vbench_object_class | success_frame_count, frame_count | video_results, both counts | Σ ok / Σ frames |
| vbench_multiple_objects | success_frame_count, frame_count | video_results, both counts | Σ ok / Σ frames |
| vbench_scene | success_frame_count, frame_count | video_results, both counts | Σ ok / Σ frames |
| vbench_human_action | video_results (1.0 correct / 0.0) | video_results: bool, cor_num_per_video | correct / n |
| vbench_color | object_frame_count, color_frame_count | video_results = cur_success_frame_rate = color/object; dropped when object = 0 | Σ rate / n kept |
| vbench_temporal_style | video_results (raw cosine) | video_results | np.mean |
| vbench_overall_consistency | video_results (raw cosine) | video_results | np.mean |

Embed outputs (the per-frame list has a video-dependent length, which Score outputs cannot carry):

| scorer | embeddings | per-video record | aggregate |
|---|---|---|---|
| vbench_spatial_relationship | frame_results (float64 [16], frame scores) | video_results = np.mean, frame_results | np.mean over all frames |
| vbench_appearance_style | frame_results (float64 [N], logits/100 per frame) | video_results = np.mean, frame_results, cur_sim = last | Σ frames / count |
| vbench_static_filter | pair_scores (float64 [N+1]: N−1 consecutive pairs, then first→last, last→first; top-2 % flow magnitude mean), frame_shape (float64 [3]: N, H, W) | — | `static_filter.is_static` |

A video a scorer cannot score (undecodable, zero or one frame, too short for its sampling, unparsable label) is an
INVALID_ARGUMENT error for that sample and scorer, with the reason: the runner lists it and leaves it out of the
aggregate. Send float64 embeddings (not float32) so the Python floats of the reference survive the wire.

Conditions (`Sample.prompt` per dimension, built by `conditions.condition_text`):
the Quality dimensions, temporal_style and overall_consistency get `prompt_en`; object_class and multiple_objects
the `auxiliary_info` object string ("person", "bird and cat"); scene the scene string ("alley"); appearance_style
the style string; human_action the Kinetics label parsed from the file name (spec §1.10); color the JSON
`{"color": ..., "object": ...}` (object derived from the prompt as the reference does, §1.11); spatial_relationship
the JSON `{"object_a": ..., "object_b": ..., "relationship": ...}`.
"""
