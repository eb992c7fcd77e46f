OK_FORMAT = True

test = {   'name': 'q3',
    'points': None,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(accuracy, float) and 0 <= accuracy <= 1\n>>> assert misleading_metric in ('accuracy', 'macro f1')\n",
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
