"""Tabular tasks: scikit-learn's bundled data sets and generated tables, in varied forms
(CSV, TSV, JSON, JSON Lines, Parquet, Excel, a joined side table; with and without a
description, a sample submission or an id column)."""
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.model_selection import train_test_split

from models import best_constant, class_priors, tabular_reference
from task_writer import TaskWriter


def split(frame, test_size, seed, stratify=None):
    train, test = train_test_split(frame, test_size=test_size, random_state=seed,
                                   stratify=frame[stratify] if stratify else None)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def finish(writer, train, test, features, seed):
    """Answers, the trivial baseline (class priors or the best constant) and the tabular reference."""
    spec = writer.spec
    label, problem_type = spec["label"], spec["problem_type"]
    if problem_type == "regression":
        trivial, method = best_constant(spec["metric"], train[label], len(test))
    else:
        trivial = class_priors(train[label], spec["classes"], len(test))
        method = "majority class" if spec["metric"] in ("accuracy", "f1", "f1_macro") else "class priors"
    model, reference = tabular_reference(train, test, features, label, problem_type, seed)
    return writer.finish(test, trivial, method, reference, model)


def without(frame, *columns):
    return frame.drop(columns=list(columns))


def iris(root):
    """Multiclass, CSV, an id column, a description and a sample submission."""
    data = load_iris(as_frame=True)
    frame = data.data.rename(columns=lambda name: name.replace(" (cm)", "_cm").replace(" ", "_"))
    frame["species"] = np.array(data.target_names, dtype=object)[data.target]
    frame.insert(0, "id", np.random.RandomState(101).permutation(len(frame)) + 1)
    train, test = split(frame, 0.3, 101, "species")
    w = TaskWriter(root, "iris-species", modality="tabular", problem_type="multiclass", metric="accuracy",
                   label="species", keys=["id"], classes=data.target_names, source="sklearn load_iris",
                   form="CSV, id column, description.md, sample submission")
    w.table("train", "train.csv", train)
    w.table("test", "test.csv", without(test, "species"))
    w.table("sample_submission", "sample_submission.csv", test[["id"]].assign(species="setosa"))
    w.text("description", "description.md",
           "# Iris species\n\nPredict the `species` of each flower in test.csv from its sepal and petal measurements.\n"
           "Submissions are evaluated on accuracy.\n")
    return finish(w, train, test, [c for c in frame.columns if c not in ("id", "species")], 101)


def wine(root):
    """Multiclass, TSV, no id column (rows matched by order), no description, no sample submission."""
    data = load_wine(as_frame=True)
    frame = data.data.rename(columns=lambda name: name.replace("/", "_"))
    cultivars = np.array(["barolo", "grignolino", "barbera"], dtype=object)
    frame["cultivar"] = cultivars[data.target]
    train, test = split(frame, 0.3, 102, "cultivar")
    w = TaskWriter(root, "wine-cultivar", modality="tabular", problem_type="multiclass", metric="accuracy",
                   label="cultivar", keys=[], classes=cultivars, source="sklearn load_wine",
                   form="TSV, no id column, no description, no sample submission")
    w.table("train", "train.tsv", train)
    w.table("test", "test.tsv", without(test, "cultivar"))
    return finish(w, train, test, list(data.data.columns.map(lambda name: name.replace("/", "_"))), 102)


def breast_cancer(root):
    """Binary scored on AUC, Parquet, column names with spaces, a description and a sample submission of probabilities."""
    data = load_breast_cancer(as_frame=True)
    frame = data.data.copy()
    frame["diagnosis"] = np.array(data.target_names, dtype=object)[data.target]
    frame.insert(0, "patient_id", [f"P{10000 + i}" for i in np.random.RandomState(103).permutation(len(frame))])
    train, test = split(frame, 0.3, 103, "diagnosis")
    w = TaskWriter(root, "breast-cancer-diagnosis", modality="tabular", problem_type="binary", metric="roc_auc",
                   label="diagnosis", keys=["patient_id"], classes=data.target_names, positive_class="malignant",
                   source="sklearn load_breast_cancer", form="Parquet, id column, description.txt, sample submission (probabilities)")
    w.table("train", "train.parquet", train)
    w.table("test", "test.parquet", without(test, "diagnosis"))
    w.table("sample_submission", "sample_submission.csv", test[["patient_id"]].assign(diagnosis=0.5))
    w.text("description", "description.txt",
           "Breast cancer diagnosis from digitised images of a fine needle aspirate.\n"
           "For each patient in the test file, give the probability that the tumour is malignant (diagnosis).\n"
           "Submissions are scored with the area under the ROC curve.\n")
    return finish(w, train, test, list(data.data.columns), 103)


def diabetes(root):
    """Regression scored on MAE, Excel workbooks, an id column, a description."""
    data = load_diabetes(as_frame=True, scaled=False)
    frame = data.data.copy()
    frame["progression"] = data.target
    frame.insert(0, "patient", np.arange(1, len(frame) + 1))
    train, test = split(frame, 0.25, 104)
    w = TaskWriter(root, "diabetes-progression", modality="tabular", problem_type="regression", metric="mae",
                   label="progression", keys=["patient"], source="sklearn load_diabetes (unscaled)",
                   form="Excel (.xlsx), id column, description.md")
    w.table("train", "train.xlsx", train)
    w.table("test", "test.xlsx", without(test, "progression"))
    w.text("description", "description.md",
           "# Diabetes progression\n\nEach row is a patient: age, sex, body mass index, blood pressure and six blood serum "
           "measurements (s1-s6). Predict `progression`, a measure of disease progression one year later, for each patient "
           "in test.xlsx.\n\nWrite submission.csv with the columns patient and progression.\n\nEvaluation: mean absolute error.\n")
    return finish(w, train, test, list(data.data.columns), 104)


def telco_churn(root):
    """Binary with 0/1 labels, CSV, a sample submission of probabilities and no description (default metric AUC)."""
    rng = np.random.RandomState(105)
    rows = 3000
    contract = rng.choice(["Month-to-month", "One year", "Two year"], rows, p=[0.5, 0.3, 0.2])
    internet = rng.choice(["DSL", "Fiber optic", "No"], rows, p=[0.35, 0.45, 0.2])
    tenure = rng.randint(0, 73, rows)
    monthly = np.round(25 + (internet == "Fiber optic") * 45 + (internet == "DSL") * 20 + rng.normal(0, 10, rows), 2)
    tickets = rng.poisson(1.2, rows)
    paperless = rng.choice(["Yes", "No"], rows)
    logit = (-1.2 + 1.5 * (contract == "Month-to-month") - 1.0 * (contract == "Two year") - tenure / 20
             + 0.6 * (internet == "Fiber optic") + 0.35 * tickets + 0.3 * (paperless == "Yes") + rng.logistic(0, 0.6, rows))
    frame = pd.DataFrame({
        "customerID": [f"{rng.randint(1000, 9999)}-{''.join(rng.choice(list('ABCDEFGHJKLMNPQRSTUVWXYZ'), 5))}" for _ in range(rows)],
        "Contract": contract, "InternetService": internet, "tenure": tenure,
        "MonthlyCharges": monthly, "SupportTickets": tickets, "PaperlessBilling": paperless,
    })
    frame["customerID"] = frame["customerID"] + "-" + pd.Series(range(rows)).astype(str)
    frame["TotalCharges"] = np.where(rng.rand(rows) < 0.03, np.nan, np.round(monthly * np.maximum(tenure, 1), 2))
    frame["Churned"] = (logit > 0).astype(int)
    train, test = split(frame, 0.25, 105, "Churned")
    w = TaskWriter(root, "telco-churn", modality="tabular", problem_type="binary", metric="roc_auc",
                   label="Churned", keys=["customerID"], classes=["0", "1"], positive_class="1",
                   source="generated (logistic churn process)", form="CSV, 0/1 label, sample submission (probabilities), no description")
    w.table("train", "train.csv", train)
    w.table("test", "test.csv", without(test, "Churned"))
    w.table("sample_submission", "sample_submission.csv", test[["customerID"]].assign(Churned=0.5))
    features = [c for c in frame.columns if c not in ("customerID", "Churned")]
    return finish(w, train, test, features, 105)


def loan_default(root):
    """Binary scored on F1 of the rare class, JSON Lines, CamelCase columns, no id column."""
    rng = np.random.RandomState(106)
    rows = 4000
    income = np.round(rng.lognormal(10.8, 0.45, rows), -2)
    amount = np.round(rng.uniform(1000, 40000, rows), -2)
    score = np.clip(rng.normal(680, 60, rows), 300, 850).round()
    years = rng.randint(0, 30, rows)
    home = rng.choice(["RENT", "OWN", "MORTGAGE"], rows, p=[0.45, 0.15, 0.4])
    purpose = rng.choice(["debt_consolidation", "car", "home_improvement", "education", "medical"], rows)
    logit = (-1.4 + 3.2 * amount / income - (score - 680) / 35 - years / 15 + 0.5 * (home == "RENT")
             + 0.4 * (purpose == "medical") + rng.logistic(0, 0.5, rows))
    frame = pd.DataFrame({
        "ApplicantAge": rng.randint(21, 70, rows), "AnnualIncome": income, "LoanAmount": amount,
        "CreditScore": score.astype(int), "EmploymentYears": years, "HomeOwnership": home, "LoanPurpose": purpose,
        "LoanStatus": np.where(logit > 0, "Default", "Repaid"),
    })
    train, test = split(frame, 0.25, 106, "LoanStatus")
    w = TaskWriter(root, "loan-default", modality="tabular", problem_type="binary", metric="f1",
                   label="LoanStatus", keys=[], classes=["Default", "Repaid"], positive_class="Default",
                   source="generated (logistic default process)", form="JSON Lines, no id column (rows by order), description.txt")
    w.table("train", "applications_train.jsonl", train)
    w.table("test", "applications_test.jsonl", without(test, "LoanStatus"))
    w.text("description", "description.txt",
           "Loan applications: predict LoanStatus (Default or Repaid) for every application in applications_test.jsonl, "
           "in the same order.\nThe metric is the F1 score of the Default class.\n")
    return finish(w, train, test, [c for c in frame.columns if c != "LoanStatus"], 106)


def house_rent(root):
    """Regression scored on RMSE; the description names the output file and its columns."""
    rng = np.random.RandomState(107)
    rows = 2500
    districts = {"Centre": 900, "Docklands": 600, "Northfield": 250, "Oakwood": 350, "Riverside": 500, "Southgate": 150}
    district = rng.choice(list(districts), rows)
    size = np.round(rng.uniform(25, 140, rows))
    bedrooms = np.clip(np.round(size / 30 + rng.normal(0, 0.6, rows)), 0, 5).astype(int)
    floor = rng.randint(0, 15, rows)
    furnished = rng.choice(["yes", "no"], rows)
    built = rng.randint(1950, 2024, rows)
    rent = (300 + np.vectorize(districts.get)(district) + 14 * size + 60 * bedrooms + 8 * floor
            + 120 * (furnished == "yes") + 4 * (built - 1950) + 0.04 * (size - 80) ** 2 + rng.normal(0, 90, rows))
    frame = pd.DataFrame({
        "listing_id": [f"L-{200000 + i}" for i in range(rows)], "district": district, "size_m2": size,
        "bedrooms": bedrooms, "floor": floor, "furnished": furnished, "year_built": built, "monthly_rent": np.round(rent),
    })
    frame.loc[rng.rand(rows) < 0.05, "year_built"] = np.nan
    train, test = split(frame, 0.25, 107)
    w = TaskWriter(root, "house-rent", modality="tabular", problem_type="regression", metric="rmse",
                   label="monthly_rent", keys=["listing_id"], source="generated (additive rent model)",
                   form="CSV, text id column, description.txt naming the output file and columns")
    w.table("train", "listings_train.csv", train)
    w.table("test", "listings_test.csv", without(test, "monthly_rent"))
    w.text("description", "description.txt",
           "Estimate the monthly rent of each flat in listings_test.csv.\n"
           "Write rent_predictions.csv with the columns listing_id and monthly_rent.\n"
           "Predictions are evaluated by root mean squared error.\n")
    return finish(w, train, test, [c for c in frame.columns if c not in ("listing_id", "monthly_rent")], 107)


def sensor_faults(root):
    """Multiclass scored on log loss, JSON record arrays, a sample submission with one probability column per class."""
    rng = np.random.RandomState(108)
    rows = 3000
    classes = ["bearing_wear", "misalignment", "normal", "overheating"]
    fault = rng.choice(classes, rows, p=[0.2, 0.2, 0.45, 0.15])
    vibration = rng.normal(2.0, 0.5, rows) + 1.6 * (fault == "bearing_wear") + 0.9 * (fault == "misalignment")
    frequency = rng.normal(50, 6, rows) + 25 * (fault == "bearing_wear") - 8 * (fault == "misalignment")
    temperature = rng.normal(60, 6, rows) + 18 * (fault == "overheating") + 4 * (fault == "bearing_wear")
    current = rng.normal(12, 1.5, rows) + 2.5 * (fault == "misalignment") + 1.5 * (fault == "overheating")
    frame = pd.DataFrame({
        "reading_id": np.arange(rows) + 1, "machine_type": rng.choice(["pump", "fan", "compressor"], rows),
        "vibration_rms": vibration.round(3), "peak_frequency_hz": frequency.round(2),
        "temperature_c": temperature.round(2), "motor_current_a": current.round(3), "fault": fault,
    })
    train, test = split(frame, 0.25, 108, "fault")
    w = TaskWriter(root, "sensor-faults", modality="tabular", problem_type="multiclass", metric="log_loss",
                   label="fault", keys=["reading_id"], classes=classes, source="generated (class-conditional Gaussians)",
                   form="JSON record arrays, description.md, sample submission with a probability column per class")
    w.table("train", "sensor_readings_train.json", train)
    w.table("test", "sensor_readings_test.json", without(test, "fault"))
    w.table("sample_submission", "sample_submission.csv", test[["reading_id"]].assign(**{c: 0.25 for c in classes}))
    w.text("description", "description.md",
           "# Machine fault detection\n\nEach reading comes from a sensor on a machine. Predict the probability of each "
           "`fault` class (bearing_wear, misalignment, normal, overheating) for every reading in the test file.\n\n"
           "Submissions are evaluated with the multi-class logarithmic loss.\n")
    return finish(w, train, test, [c for c in frame.columns if c not in ("reading_id", "fault")], 108)


def energy_use(root):
    """Regression with no description and file names that do not say train or test: the labelled file has the extra column."""
    rng = np.random.RandomState(109)
    rows = 2000
    kind = rng.choice(["office", "school", "retail", "warehouse"], rows)
    area = np.round(rng.uniform(300, 8000, rows))
    year = rng.randint(1920, 2023, rows)
    climate = rng.choice(["cold", "mild", "hot"], rows)
    occupants = np.round(area / rng.uniform(15, 60, rows)).astype(int)
    intensity = (np.vectorize({"office": 160, "school": 120, "retail": 210, "warehouse": 70}.get)(kind)
                 + np.vectorize({"cold": 40, "mild": 0, "hot": 25}.get)(climate) - 0.6 * (year - 1920))
    kwh = area * intensity * np.exp(rng.normal(0, 0.08, rows)) + 900 * occupants
    frame = pd.DataFrame({
        "building_ref": [f"B-{i:05d}" for i in rng.permutation(rows)], "building_type": kind, "floor_area_m2": area,
        "year_built": year, "climate_zone": climate, "occupants": occupants, "annual_kwh": np.round(kwh),
    })
    train, test = split(frame, 0.25, 109)
    w = TaskWriter(root, "energy-use", modality="tabular", problem_type="regression", metric="rmse",
                   label="annual_kwh", keys=["building_ref"], source="generated (multiplicative energy model)",
                   form="CSV, file names without train/test, no description, no sample submission")
    w.table("train", "building_survey_2023.csv", train)
    w.table("test", "buildings_pending.csv", without(test, "annual_kwh"))
    return finish(w, train, test, [c for c in frame.columns if c not in ("building_ref", "annual_kwh")], 109)


def order_returns(root):
    """Binary scored on AUC where most of the signal sits in a side table joined on customer_id."""
    rng = np.random.RandomState(110)
    customers = 500
    people = pd.DataFrame({
        "customer_id": [f"CU{i:04d}" for i in range(customers)],
        "age": rng.randint(18, 80, customers),
        "membership": rng.choice(["basic", "silver", "gold"], customers, p=[0.6, 0.3, 0.1]),
        "past_return_rate": np.round(rng.beta(1.5, 6, customers), 3),
    })
    rows = 5000
    orders = pd.DataFrame({
        "order_id": np.arange(rows) + 100001,
        "customer_id": rng.choice(people["customer_id"], rows),
        "category": rng.choice(["shoes", "clothing", "electronics", "books", "home"], rows, p=[0.2, 0.3, 0.2, 0.15, 0.15]),
        "price": np.round(rng.lognormal(3.6, 0.8, rows), 2),
        "discount_pct": rng.choice([0, 10, 20, 30, 50], rows),
        "delivery_days": rng.randint(1, 12, rows),
    })
    joined = orders.merge(people, on="customer_id", how="left")
    logit = (-2.0 + 9 * joined["past_return_rate"] + 0.9 * (joined["category"] == "shoes") + 0.6 * (joined["category"] == "clothing")
             - 0.8 * (joined["category"] == "books") + 0.03 * joined["discount_pct"] + 0.08 * joined["delivery_days"]
             - 0.5 * (joined["membership"] == "gold") + rng.logistic(0, 0.7, rows))
    orders["returned"] = np.where(logit > 0, "yes", "no")
    joined["returned"] = orders["returned"]
    train, test = split(joined, 0.25, 110, "returned")
    order_columns = list(orders.columns)
    w = TaskWriter(root, "order-returns", modality="tabular", problem_type="binary", metric="roc_auc",
                   label="returned", keys=["order_id"], classes=["no", "yes"], positive_class="yes",
                   source="generated (logistic process over a joined customer table)",
                   form="CSV, a side table (customers.csv) to join on customer_id, description.md")
    w.table("train", "orders_train.csv", train[order_columns])
    w.table("test", "orders_test.csv", test[[c for c in order_columns if c != "returned"]])
    w.table("extra", "customers.csv", people)
    w.text("description", "description.md",
           "# Order returns\n\nPredict whether each order in orders_test.csv will be returned (`returned`: yes/no). "
           "customers.csv describes every customer; join it on customer_id.\n\n"
           "Submissions are evaluated on the area under the ROC curve of the probability that the order is returned.\n")
    features = [c for c in joined.columns if c not in ("order_id", "customer_id", "returned")]
    return finish(w, train, test, features, 110)


TASKS = [iris, wine, breast_cancer, diabetes, telco_churn, loan_default, house_rent, sensor_faults, energy_use, order_returns]
