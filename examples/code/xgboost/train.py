"""An XGBoost script for SageMaker's script mode: trains on the `train` channel's CSV (label first) and saves
the booster as `xgboost-model`, the file the XGBoost model server loads."""

import argparse
import glob
import os

import numpy as np
import xgboost as xgb

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--num_round", type=int, default=50)
    parser.add_argument("--max_depth", type=int, default=3)
    parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
    args = parser.parse_args()

    files = glob.glob(os.path.join(args.train, "*.csv"))
    rows = np.vstack([np.loadtxt(path, delimiter=",", ndmin=2) for path in files])
    train = xgb.DMatrix(rows[:, 1:], label=rows[:, 0])
    booster = xgb.train({"objective": "reg:squarederror", "max_depth": args.max_depth}, train,
                        num_boost_round=args.num_round, evals=[(train, "train")], verbose_eval=10)
    booster.save_model(os.path.join(args.model_dir, "xgboost-model"))
