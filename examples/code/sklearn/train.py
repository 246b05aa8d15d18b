"""A scikit-learn script for SageMaker's script mode, written as for SageMaker: it trains when run and serves
when imported by the model server (model_fn), so the training part sits under `__main__`."""

import argparse
import glob
import os

import joblib
import pandas as pd
from sklearn.linear_model import Ridge


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
    args = parser.parse_args()

    frame = pd.concat(pd.read_csv(path, header=None) for path in glob.glob(os.path.join(args.train, "*.csv")))
    features, target = frame.iloc[:, 1:], frame[0]
    model = Ridge(alpha=args.alpha).fit(features, target)
    print(f"train:r2={model.score(features, target):.4f}")
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
