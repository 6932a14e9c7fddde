"""Parameter names of every registered estimator, for checks that must not import them.

``fairsel validate`` must answer fast, so it checks ``params`` names against this table instead
of importing scikit-learn and LightGBM (``fairsel audit`` also checks the values with the real
classes). ``tests/unit/test_registries_params.py`` fails when the installed versions disagree;
regenerate with ``python -m fairsel.candidates.param_names``.
"""

from __future__ import annotations

#: Generated with scikit-learn 1.9.1 and LightGBM 4.7.0.
PARAM_NAMES: dict[str, tuple[str, ...]] = {
    "logistic_regression": (
        "C", "class_weight", "dual", "fit_intercept", "intercept_scaling", "l1_ratio", "max_iter",
        "n_jobs", "penalty", "random_state", "solver", "tol", "verbose", "warm_start",
    ),
    "random_forest": (
        "bootstrap", "ccp_alpha", "class_weight", "criterion", "max_depth", "max_features",
        "max_leaf_nodes", "max_samples", "min_impurity_decrease", "min_samples_leaf",
        "min_samples_split", "min_weight_fraction_leaf", "monotonic_cst", "n_estimators",
        "n_jobs", "oob_score", "random_state", "verbose", "warm_start",
    ),
    "extra_trees": (
        "bootstrap", "ccp_alpha", "class_weight", "criterion", "max_depth", "max_features",
        "max_leaf_nodes", "max_samples", "min_impurity_decrease", "min_samples_leaf",
        "min_samples_split", "min_weight_fraction_leaf", "monotonic_cst", "n_estimators",
        "n_jobs", "oob_score", "random_state", "verbose", "warm_start",
    ),
    "hist_gradient_boosting": (
        "categorical_features", "class_weight", "early_stopping", "interaction_cst",
        "l2_regularization", "learning_rate", "loss", "max_bins", "max_depth", "max_features",
        "max_iter", "max_leaf_nodes", "min_samples_leaf", "monotonic_cst", "n_iter_no_change",
        "random_state", "scoring", "tol", "validation_fraction", "verbose", "warm_start",
    ),
    "decision_tree": (
        "ccp_alpha", "class_weight", "criterion", "max_depth", "max_features", "max_leaf_nodes",
        "min_impurity_decrease", "min_samples_leaf", "min_samples_split",
        "min_weight_fraction_leaf", "monotonic_cst", "random_state", "splitter",
    ),
    "gradient_boosting": (
        "ccp_alpha", "criterion", "init", "learning_rate", "loss", "max_depth", "max_features",
        "max_leaf_nodes", "min_impurity_decrease", "min_samples_leaf", "min_samples_split",
        "min_weight_fraction_leaf", "n_estimators", "n_iter_no_change", "random_state",
        "subsample", "tol", "validation_fraction", "verbose", "warm_start",
    ),
    "gaussian_nb": (
        "priors", "var_smoothing",
    ),
    "lightgbm": (
        "alpha", "app", "application", "auc_mu_weights", "bagging", "bagging_by_query",
        "bagging_fraction", "bagging_fraction_seed", "bagging_freq", "bagging_seed",
        "bin_construct_sample_cnt", "blacklist", "boost", "boost_from_average", "boosting",
        "boosting_type", "bundle", "cat_column", "cat_feature", "cat_l2", "cat_smooth",
        "categorical_column", "categorical_feature", "categorical_features",
        "cegb_penalty_feature_coupled", "cegb_penalty_feature_lazy", "cegb_penalty_split",
        "cegb_tradeoff", "class_weight", "colsample_bynode", "colsample_bytree", "config",
        "config_file", "contrib", "convert_model", "convert_model_file", "convert_model_language",
        "data", "data_filename", "data_random_seed", "data_sample_strategy", "data_seed",
        "deterministic", "device", "device_type", "drop_rate", "drop_seed", "early_stopping",
        "early_stopping_min_delta", "early_stopping_round", "early_stopping_rounds",
        "enable_bundle", "enable_sparse", "eta", "eval_at", "extra_seed", "extra_tree",
        "extra_trees", "fair_c", "fc", "feature_contri", "feature_contrib", "feature_fraction",
        "feature_fraction_bynode", "feature_fraction_seed", "feature_penalty",
        "feature_pre_filter", "first_metric_only", "force_col_wise", "force_row_wise",
        "forced_splits", "forced_splits_file", "forced_splits_filename", "forcedbins_filename",
        "forcedsplits_filename", "fp", "fs", "gpu_device_id", "gpu_device_id_list",
        "gpu_platform_id", "gpu_use_dp", "group", "group_column", "group_id", "has_header",
        "header", "hist_pool_size", "histogram_pool_size", "ignore_column", "ignore_feature",
        "importance_type", "input_model", "interaction_constraints", "is_enable_bundle",
        "is_enable_sparse", "is_pre_partition", "is_predict_contrib", "is_predict_leaf_index",
        "is_predict_raw_score", "is_provide_training_metric", "is_save_binary",
        "is_save_binary_file", "is_sparse", "is_training_metric", "is_unbalance",
        "l1_regularization", "l2_regularization", "label", "label_column", "label_gain", "lambda",
        "lambda_l1", "lambda_l2", "lambdarank_norm", "lambdarank_position_bias_regularization",
        "lambdarank_truncation_level", "leaf_index", "learning_rate", "linear_lambda",
        "linear_tree", "linear_trees", "local_listen_port", "local_port", "loss", "machine_list",
        "machine_list_file", "machine_list_filename", "machines", "map_at", "map_eval_at",
        "max_bin", "max_bin_by_feature", "max_bins", "max_cat_threshold", "max_cat_to_onehot",
        "max_delta_step", "max_depth", "max_drop", "max_iter", "max_leaf", "max_leaf_nodes",
        "max_leaf_output", "max_leaves", "max_tree_output", "mc", "mc_method", "mc_penalty",
        "metric", "metric_freq", "metric_types", "metrics", "min_child_samples",
        "min_child_weight", "min_data", "min_data_in_bin", "min_data_in_leaf",
        "min_data_per_group", "min_data_per_leaf", "min_gain_to_split", "min_hessian",
        "min_samples_leaf", "min_split_gain", "min_sum_hessian", "min_sum_hessian_in_leaf",
        "min_sum_hessian_per_leaf", "mlist", "model_in", "model_input", "model_out",
        "model_output", "monotone_constraining_method", "monotone_constraint",
        "monotone_constraints", "monotone_constraints_method", "monotone_penalty",
        "monotone_splits_penalty", "monotonic_cst", "ms_penalty", "multi_error_top_k",
        "n_estimators", "n_iter", "n_iter_no_change", "n_jobs", "name_pred", "ndcg_at",
        "ndcg_eval_at", "neg_bagging", "neg_bagging_fraction", "neg_sub_row", "neg_subsample",
        "nodes", "nrounds", "nthread", "nthreads", "num_boost_round", "num_class", "num_classes",
        "num_gpu", "num_grad_quant_bins", "num_iteration", "num_iteration_predict",
        "num_iterations", "num_leaf", "num_leaves", "num_machine", "num_machines", "num_round",
        "num_rounds", "num_thread", "num_threads", "num_tree", "num_trees", "objective",
        "objective_seed", "objective_type", "other_rate", "output_freq", "output_model",
        "output_result", "parser_config_file", "path_smooth", "poisson_max_delta_step", "port",
        "pos_bagging", "pos_bagging_fraction", "pos_sub_row", "pos_subsample", "pre_partition",
        "precise_float_parser", "pred_early_stop", "pred_early_stop_freq",
        "pred_early_stop_margin", "pred_name", "predict_contrib", "predict_disable_shape_check",
        "predict_leaf_index", "predict_name", "predict_raw_score", "predict_rawscore",
        "predict_result", "prediction_name", "prediction_result", "quant_train_renew_leaf",
        "query", "query_column", "query_id", "random_seed", "random_state", "rate_drop",
        "raw_score", "refit_decay_rate", "reg_alpha", "reg_lambda", "reg_sqrt", "save_binary",
        "save_period", "saved_feature_importance_type", "scale_pos_weight", "seed",
        "shrinkage_rate", "sigmoid", "skip_drop", "snapshot_freq", "sparse",
        "start_iteration_predict", "stochastic_rounding", "sub_feature", "sub_feature_bynode",
        "sub_row", "subsample", "subsample_for_bin", "subsample_freq", "task", "task_type",
        "test", "test_data", "test_data_file", "time_out", "top_k", "top_rate", "topk", "train",
        "train_data", "train_data_file", "train_metric", "training_metric", "tree",
        "tree_learner", "tree_learner_type", "tree_type", "tweedie_variance_power", "two_round",
        "two_round_loading", "unbalance", "unbalanced_sets", "uniform_drop", "use_missing",
        "use_quantized_grad", "use_two_round_loading", "valid", "valid_data", "valid_data_file",
        "valid_filenames", "verbose", "verbosity", "weight", "weight_column", "workers",
        "xgboost_dart_mode", "zero_as_missing",
    ),
}


def _generate() -> str:  # pragma: no cover - a maintenance helper
    from fairsel.candidates.estimators import ESTIMATORS, lightgbm_param_names

    out = {n: tuple(sorted(ESTIMATORS.get(n).make({}, 0)[1])) for n in ESTIMATORS.names()}
    out["lightgbm"] = tuple(sorted(lightgbm_param_names()))
    return repr(out)


if __name__ == "__main__":  # pragma: no cover
    print("PARAM_NAMES =", _generate())
    print("(paste into fairsel/candidates/param_names.py, then run the tests)")
