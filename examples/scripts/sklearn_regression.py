"""A scikit-learn training script in SageMaker script mode: the same file runs on SageMaker unchanged.

Hyperparameters arrive as `--name value` arguments; the data and model directories as SM_* variables.
"""

import argparse
import glob
import os

import joblib
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, default=1.0)
parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
args = parser.parse_args()

frame = pd.concat(pd.read_csv(path, header=None) for path in glob.glob(os.path.join(args.train, "*.csv")))
features, target = frame.iloc[:, 1:], frame[0]
x_train, x_test, y_train, y_test = train_test_split(features, target, test_size=0.2, random_state=0)
print(f"training Ridge(alpha={args.alpha}) on {len(x_train)} rows, testing on {len(x_test)}")
model = Ridge(alpha=args.alpha).fit(x_train, y_train)
predicted = model.predict(x_test)
print(f"validation:mse={mean_squared_error(y_test, predicted):.5f}")
print(f"validation:r2={r2_score(y_test, predicted):.5f}")
joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
