"""Text and text-with-table tasks, generated from phrase pools with a known labelling process."""
import numpy as np
import pandas as pd

from models import best_constant, class_priors, text_reference
from tabular_tasks import split, without
from task_writer import TaskWriter

POSITIVE = [
    "works great", "excellent quality", "really comfortable", "love it", "exceeded my expectations",
    "highly recommend it", "sturdy and well made", "great value for money", "the battery lasts forever",
    "no complaints at all", "not bad at all", "does exactly what it says", "my kids adore it", "five stars",
]
NEGATIVE = [
    "stopped working after a week", "cheap plastic", "a waste of money", "very disappointed", "broke on the first day",
    "does not fit", "arrived damaged", "terrible customer service", "I returned it", "not worth the price",
    "not as described", "the battery dies in an hour", "would not buy again", "one star",
]
NEUTRAL = [
    "bought this for my sister", "ordered the blue one", "it came in a plain box", "used it for a month",
    "the colour is as pictured", "setup took ten minutes", "delivery was on a tuesday", "I use it at the office",
    "got it on sale", "compared it with two others",
]
PRODUCTS = ["headphones", "blender", "backpack", "phone case", "desk lamp", "kettle", "running shoes", "keyboard", "tent", "toaster"]


def review_sentiment(root):
    """Binary text classification on accuracy: short reviews mixing positive, negative and neutral phrases."""
    rng = np.random.RandomState(201)
    rows = 3000
    reviews, labels = [], []
    for _ in range(rows):
        positive = rng.rand() < 0.55
        main, other = (POSITIVE, NEGATIVE) if positive else (NEGATIVE, POSITIVE)
        phrases = list(rng.choice(main, rng.randint(1, 3), replace=False))
        if rng.rand() < 0.35:
            phrases.append(rng.choice(other))
        phrases += list(rng.choice(NEUTRAL, rng.randint(0, 3), replace=False))
        rng.shuffle(phrases)
        reviews.append(". ".join(phrase[0].upper() + phrase[1:] for phrase in phrases) + ".")
        labels.append(("positive" if positive else "negative") if rng.rand() > 0.04 else ("negative" if positive else "positive"))
    frame = pd.DataFrame({"review_id": [f"R{i:05d}" for i in range(rows)], "product": rng.choice(PRODUCTS, rows),
                          "review": reviews, "sentiment": labels})
    train, test = split(frame, 0.25, 201, "sentiment")
    w = TaskWriter(root, "review-sentiment", modality="text", problem_type="binary", metric="accuracy",
                   label="sentiment", keys=["review_id"], classes=["negative", "positive"], positive_class="positive",
                   source="generated (phrase pools, 4% label noise)", form="CSV, text column, description.md, sample submission")
    w.table("train", "train.csv", train)
    w.table("test", "test.csv", without(test, "sentiment"))
    w.table("sample_submission", "sample_submission.csv", test[["review_id"]].assign(sentiment="positive"))
    w.text("description", "description.md",
           "# Product review sentiment\n\nClassify the `sentiment` (positive or negative) of each customer review in test.csv.\n"
           "Submissions are evaluated on accuracy.\n")
    trivial = class_priors(train["sentiment"], w.spec["classes"], len(test))
    model, reference = text_reference(train, test, ["review"], [], ["product"], "sentiment", "binary", 201)
    return w.finish(test, trivial, "majority class", reference, model)


TOPICS = {
    "business": ["shares", "profits", "merger", "investors", "quarterly earnings", "central bank", "inflation", "startup",
                 "retail sales", "bond market", "supply chain", "chief executive"],
    "politics": ["parliament", "election", "minister", "senate", "campaign", "coalition", "ballot", "governor",
                 "opposition leader", "budget bill", "referendum", "cabinet"],
    "science": ["researchers", "telescope", "study", "species", "experiment", "vaccine trial", "genome", "physicists",
                "spacecraft", "fossil", "laboratory", "climate model"],
    "sport": ["championship", "coach", "striker", "final", "tournament", "injury", "league", "transfer window",
              "goalkeeper", "grand slam", "relay team", "derby"],
}
SHARED = ["record", "new", "plan", "talks", "deal", "report", "crisis", "win", "launch", "rise", "fall", "surprise", "delay"]
CITIES = ["Lisbon", "Nairobi", "Osaka", "Denver", "Leeds", "Lyon", "Perth", "Quito"]
LINKS = ["after", "as", "amid", "despite", "in", "before", "with"]


def news_topic(root):
    """Multiclass text classification on macro F1: headlines and summaries from topic vocabularies with shared words."""
    rng = np.random.RandomState(202)
    rows = 3200
    names = sorted(TOPICS)
    topic = rng.choice(names, rows, p=[0.3, 0.2, 0.15, 0.35])

    def words(name, count):
        pool = list(TOPICS[name])
        picked = list(rng.choice(pool, count, replace=False))
        if rng.rand() < 0.3:
            picked[-1] = rng.choice(TOPICS[rng.choice(names)])
        return picked

    headlines, summaries = [], []
    for name in topic:
        head = words(name, 2) + [rng.choice(SHARED)]
        rng.shuffle(head)
        headlines.append(f"{head[0].capitalize()} {rng.choice(LINKS)} {head[1]} {head[2]} in {rng.choice(CITIES)}")
        body = words(name, 3) + list(rng.choice(SHARED, 3, replace=False))
        rng.shuffle(body)
        summaries.append(f"The {body[0]} and {body[1]} {rng.choice(LINKS)} the {body[2]}, {body[3]} {body[4]} {body[5]}.")
    labels = [name if rng.rand() > 0.03 else rng.choice(names) for name in topic]
    frame = pd.DataFrame({"article_id": np.arange(rows) + 5001, "headline": headlines, "summary": summaries, "topic": labels})
    train, test = split(frame, 0.25, 202, "topic")
    w = TaskWriter(root, "news-topic", modality="text", problem_type="multiclass", metric="f1_macro",
                   label="topic", keys=["article_id"], classes=names, source="generated (topic vocabularies, 3% label noise)",
                   form="JSON Lines, two text columns, description.txt, no sample submission")
    w.table("train", "train.jsonl", train)
    w.table("test", "test.jsonl", without(test, "topic"))
    w.text("description", "description.txt",
           "News articles, each with a headline and a one-line summary. Predict the topic of every article in test.jsonl "
           "(business, politics, science or sport).\nWe rank submissions by macro-averaged F1.\n")
    trivial = class_priors(train["topic"], names, len(test))
    model, reference = text_reference(train, test, ["headline", "summary"], [], [], "topic", "multiclass", 202)
    return w.finish(test, trivial, "majority class", reference, model)


ROLES = {"Data Analyst": 38000, "Software Engineer": 52000, "Nurse": 33000, "Accountant": 40000,
         "Marketing Manager": 45000, "Electrician": 35000, "Teacher": 31000}
SENIORITY = {"Junior": -8000, "": 0, "Senior": 12000, "Lead": 20000, "Principal": 30000}
SKILLS = {"kubernetes": 7000, "machine learning": 9000, "sql": 3000, "people management": 6000, "night shifts": 4000,
          "chartered": 8000, "excel": 1000, "python": 5000, "public speaking": 2000, "first aid": 500,
          "budget ownership": 5000, "agile": 1500}
FILLER = ["friendly team", "flexible hours", "modern office", "growing company", "pension scheme", "training budget",
          "free parking", "hybrid working", "fast-paced environment"]
CITY_PAY = {"London": 12000, "Manchester": 0, "Leeds": -2000, "Bristol": 3000, "Glasgow": -1000, "Cardiff": -3000}


def job_salary(root):
    """Multimodal regression on R²: a title and a free-text description next to city, experience and remote work."""
    rng = np.random.RandomState(203)
    rows = 3000
    titles, descriptions, salaries = [], [], []
    role = rng.choice(list(ROLES), rows)
    seniority = rng.choice(list(SENIORITY), rows, p=[0.2, 0.35, 0.25, 0.12, 0.08])
    city = rng.choice(list(CITY_PAY), rows)
    years = np.clip(rng.poisson(6, rows) + (seniority == "Senior") * 3 + (seniority == "Lead") * 6 + (seniority == "Principal") * 9, 0, 40)
    remote = rng.choice(["yes", "no"], rows, p=[0.3, 0.7])
    for index in range(rows):
        skills = list(rng.choice(list(SKILLS), rng.randint(1, 4), replace=False))
        filler = list(rng.choice(FILLER, 2, replace=False))
        titles.append(f"{seniority[index]} {role[index]}".strip())
        descriptions.append(f"We are looking for someone with {', '.join(skills)}. {filler[0].capitalize()} and {filler[1]}.")
        salaries.append(ROLES[role[index]] + SENIORITY[seniority[index]] + sum(SKILLS[s] for s in skills) + CITY_PAY[city[index]]
                        + 1200 * years[index] - 2000 * (remote[index] == "yes") + rng.normal(0, 4000))
    frame = pd.DataFrame({"posting_id": np.arange(rows) + 1, "title": titles, "description": descriptions, "city": city,
                          "years_experience": years, "remote": remote, "salary": np.round(salaries, -2).astype(int)})
    train, test = split(frame, 0.25, 203)
    w = TaskWriter(root, "job-salary", modality="multimodal", problem_type="regression", metric="r2",
                   label="salary", keys=["posting_id"], source="generated (additive pay model over title words, skills and city)",
                   form="CSV, two text columns with categorical and numeric columns, description.md")
    w.table("train", "job_postings_train.csv", train)
    w.table("test", "job_postings_test.csv", without(test, "salary"))
    w.text("description", "description.md",
           "# Salary prediction\n\nEach job posting has a title, a free-text description, a city, the years of experience asked "
           "for and whether it is remote. Predict the advertised `salary` of each posting in job_postings_test.csv.\n\n"
           "Evaluation metric: the coefficient of determination (R²).\n")
    trivial, method = best_constant("r2", train["salary"], len(test))
    model, reference = text_reference(train, test, ["title", "description"], ["years_experience"], ["city", "remote"], "salary", "regression", 203)
    return w.finish(test, trivial, method, reference, model)


URGENT = ["production is down", "outage for all users", "data loss", "cannot log in", "payments failing", "security breach",
          "site returns 500 errors", "urgent"]
ROUTINE = ["billing question", "how do I export", "password reset", "invoice copy", "change my email", "slow dashboard",
           "api rate limit", "integration help"]
MINOR = ["feature request", "typo on the pricing page", "dark mode please", "suggestion", "colour of the button",
         "nice to have", "documentation link broken"]
OPENERS = ["Hi team", "Hello", "Good morning", "Dear support", "Hey"]


def ticket_priority(root):
    """Multimodal multiclass on accuracy: ticket text plus customer tier and account facts decide the priority."""
    rng = np.random.RandomState(204)
    rows = 3000
    tier = rng.choice(["free", "pro", "enterprise"], rows, p=[0.5, 0.35, 0.15])
    open_tickets = rng.poisson(1.5, rows)
    age_days = rng.randint(1, 2000, rows)
    subjects, bodies, priorities = [], [], []
    for index in range(rows):
        kind = rng.choice(3, p=[0.25, 0.45, 0.3])
        pool = [URGENT, ROUTINE, MINOR][kind]
        cue = rng.choice(pool)
        other = rng.choice([URGENT, ROUTINE, MINOR][rng.randint(3)])
        subjects.append(cue.capitalize())
        bodies.append(f"{rng.choice(OPENERS)}, {cue} since this morning. Also {other}. Thanks.")
        urgency = [2.0, 1.0, 0.0][kind] + 0.9 * (tier[index] == "enterprise") + 0.3 * (tier[index] == "pro") \
            + 0.15 * min(open_tickets[index], 4) + rng.normal(0, 0.35)
        priorities.append("high" if urgency > 1.9 else "medium" if urgency > 0.8 else "low")
    frame = pd.DataFrame({"ticket_id": [f"T-{i:06d}" for i in rng.permutation(rows)], "subject": subjects, "body": bodies,
                          "customer_tier": tier, "open_tickets": open_tickets, "account_age_days": age_days, "priority": priorities})
    train, test = split(frame, 0.25, 204, "priority")
    w = TaskWriter(root, "ticket-priority", modality="multimodal", problem_type="multiclass", metric="accuracy",
                   label="priority", keys=["ticket_id"], classes=["high", "low", "medium"],
                   source="generated (urgency cues in text plus customer tier)",
                   form="Parquet, text columns with categorical and numeric columns, sample submission, no description")
    w.table("train", "tickets_train.parquet", train)
    w.table("test", "tickets_test.parquet", without(test, "priority"))
    w.table("sample_submission", "sample_submission.csv", test[["ticket_id"]].assign(priority="low"))
    trivial = class_priors(train["priority"], w.spec["classes"], len(test))
    model, reference = text_reference(train, test, ["subject", "body"], ["open_tickets", "account_age_days"], ["customer_tier"],
                                      "priority", "multiclass", 204)
    return w.finish(test, trivial, "majority class", reference, model)


TASKS = [review_sentiment, news_topic, job_salary, ticket_priority]
