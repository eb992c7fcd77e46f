OK_FORMAT = True

test = {   'name': 'q1',
    'points': None,
    'suites': [   {   'cases': [   {   'code': '>>> perfect = macro_precision_recall_f1(torch.tensor([0, 1, 2, 1]), torch.tensor([0, 1, 2, 1]), 3)\n'
                                               ">>> assert all((abs(perfect[k] - 1.0) < 1e-09 for k in ('precision', 'recall', 'f1')))\n",
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1},
                                   {   'code': '>>> scores = macro_precision_recall_f1(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 1]), 2)\n'
                                               ">>> assert abs(scores['precision'] - 0.75) < 1e-09 and abs(scores['recall'] - 0.75) < 1e-09\n",
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
