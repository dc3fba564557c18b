# FATE-Flow's directories inside the fateops FATE-Flow image. Everything a party keeps (its tables, models, jobs,
# database and logs) is in a directory of its own, so that a compose project can keep each in a named volume and
# mount conf/service_conf.yaml over the image's.
GRPC_SERVER_MAX_WORKERS = None

HTTP_REQUEST_TIMEOUT = 10  # s
REMOTE_REQUEST_TIMEOUT = 30000  # ms

LOG_DIR = "/data/projects/fate/fate_flow/logs"
DATA_DIR = "/data/projects/fate/fate_flow/data"
MODEL_DIR = "/data/projects/fate/fate_flow/model"
JOB_DIR = "/data/projects/fate/fate_flow/jobs"
DEFAULT_FATE_DIR = ""
DEFAULT_SERVER_CONF_PATH = "/data/projects/fate/fate_flow/conf"
UPLOAD_DATA_HOME = "/data/projects/fate/fate_flow/upload"

SQLITE_FILE_DIR = "/data/projects/fate/fate_flow/db"
SQLITE_FILE_NAME = "fate_flow_sqlite.db"

APP_TOKEN_LENGTH = 16
ADMIN_ID = "admin"
ADMIN_KEY = "fate_flow_admin"
